"""The three streaming AI operations: async views that answer with Server-Sent Events."""

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from ai_assist import services, sse
from ai_assist.apis import start_suggestion
from ai_assist.models import Suggestion


def authorize(request: HttpRequest) -> Any:
    """Authenticate a request as a DRF view would; return the user.

    Token or session (with CSRF for the session, as DRF checks it); raise DRF's APIException.
    """
    api_request = Request(
        request,
        # The CSRF check of a session reads the form data, and so needs the parsers.
        parsers=[parser() for parser in api_settings.DEFAULT_PARSER_CLASSES],
        authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES],
    )
    user = api_request.user
    if not (user and user.is_authenticated):
        raise exceptions.NotAuthenticated
    return user


def _start(request: HttpRequest, kind: str) -> Suggestion:
    """A stream's sync work, in one hop: authorize, validate, store the new suggestion.

    Raise DRF's APIException for a request that is refused; nothing is stored then.
    """
    body = request.body  # first: a session's CSRF check reads the stream, which hides the body
    user = authorize(request)
    try:
        body = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise exceptions.ParseError("The body must be a JSON object.") from None
    return start_suggestion(user=user, kind=kind, data=body)


def _refused(error: exceptions.APIException) -> JsonResponse:
    """Answer a refusal as DRF would: the fields' errors, or a detail, and its headers."""
    if isinstance(error, exceptions.ValidationError):
        return JsonResponse(error.detail, status=400, safe=False)
    response = JsonResponse({"detail": error.detail}, status=error.status_code)
    if isinstance(error, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = 401
        response["WWW-Authenticate"] = "Token"
    if getattr(error, "wait", None):
        response["Retry-After"] = str(int(error.wait))  # type: ignore[attr-defined]
    return response


async def _stream(request: HttpRequest, kind: str) -> HttpResponse:
    deadline = services.call_deadline()  # from the moment the request is served
    start = asyncio.ensure_future(sync_to_async(_start)(request, kind))
    try:
        suggestion = await asyncio.shield(start)
    except asyncio.CancelledError:
        # The client left while the suggestion was being stored: it must not stay `streaming`.
        with contextlib.suppress(Exception):
            await sync_to_async(services.suggestion_abandon)(suggestion=await start)
        raise
    except exceptions.APIException as error:
        return _refused(error)
    events = services.suggestion_events(
        suggestion, keepalive=settings.AI_SSE_KEEPALIVE, deadline=deadline
    )
    response = SuggestionStream(suggestion, _encode(events), content_type="text/event-stream")
    request.stream = response  # type: ignore[attr-defined]  # for config.asgi.Handler
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell proxies such as nginx not to buffer
    # Its sends end soon after, even if its client stops reading (config.asgi.Handler): the
    # call's own end at its deadline, an error event, comes first.
    response.deadline = deadline + 2
    return response


class SuggestionStream(StreamingHttpResponse):
    """An event stream that leaves its suggestion true even if it was never iterated."""

    deadline: float  # on the event loop's clock

    def __init__(self, suggestion: Suggestion, events: AsyncIterator[bytes], **kwargs: Any):
        super().__init__(events, **kwargs)
        self.suggestion = suggestion
        self._events = events

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The events are bytes already: Django's own iteration would pass each through two
        # generators more (for make_bytes), and a relay pays for every step of every event.
        return self._events

    def close(self) -> None:
        # A client that leaves before the first event cancels the stream before it starts, so
        # the events' own bookkeeping never runs; Django closes every response it sent.
        if self.suggestion.status == Suggestion.Status.STREAMING:  # as this process knows it
            services.suggestion_abandon(suggestion=self.suggestion)
        super().close()


async def _encode(events: AsyncIterator[services.Event]) -> AsyncIterator[bytes]:
    async with aclosing(events):  # type: ignore[type-var]
        async for event in events:
            if event.type == "text":
                yield sse.text(event.value)
            elif event.type == "ping":
                yield sse.PING
            elif event.type == "error":
                yield sse.event({"type": "error", "message": event.value.message})
            else:
                yield sse.event({"type": event.type, "value": event.value})


def _post_only(view: Any) -> Any:
    """Answer any method but POST with a 405 in JSON, as the API's other endpoints do."""

    @functools.wraps(view)
    async def post_only(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            detail = f'Method "{request.method}" not allowed.'
            response = JsonResponse({"detail": detail}, status=405)
            response["Allow"] = "POST"
            return response
        return await view(request)

    return post_only


@csrf_exempt  # as in DRF: session requests are checked for CSRF in authorize()
@_post_only
async def refine_description_stream(request: HttpRequest) -> HttpResponse:
    return await _stream(request, Suggestion.Kind.REFINE)


@csrf_exempt
@_post_only
async def estimate_points_stream(request: HttpRequest) -> HttpResponse:
    return await _stream(request, Suggestion.Kind.ESTIMATE)


@csrf_exempt
@_post_only
async def breakdown_issue_stream(request: HttpRequest) -> HttpResponse:
    return await _stream(request, Suggestion.Kind.BREAKDOWN)
