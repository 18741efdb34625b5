"""The event streams: the three AI operations, and following a suggestion (async views)."""

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from ai_assist import live, selectors, services
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


def _start(request: HttpRequest, kind: str) -> services.Started:
    """A stream's sync work, in one hop: authorize, validate, store the new suggestion (or find
    the one its Idempotency-Key started).

    Raise DRF's APIException for a request that is refused; nothing is stored then.
    """
    body = request.body  # first: a session's CSRF check reads the stream, which hides the body
    user = authorize(request)
    try:
        body = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise exceptions.ParseError("The body must be a JSON object.") from None
    started = start_suggestion(
        user=user, kind=kind, data=body, key=request.headers.get("Idempotency-Key")
    )
    if started.repeat:
        live.follow_mark(started.suggestion)
    return started


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
        started = await asyncio.shield(start)
    except asyncio.CancelledError:
        # The client left while its call was being stored. With an Idempotency-Key, a retry
        # may come back for it: it runs unwatched, for AI_DETACH_GRACE. Without one, nobody
        # can: it must not stay `streaming`.
        with contextlib.suppress(Exception):
            started = await start
            if not started.suggestion.idempotency_key:
                await sync_to_async(services.suggestion_abandon)(suggestion=started.suggestion)
            elif not started.repeat:
                live.start(started.suggestion, deadline=deadline).close()
        raise
    except exceptions.APIException as error:
        return _refused(error)
    if started.repeat:  # its call is running or ran: follow it from its start
        reader = live.read(started.suggestion)
    else:
        reader = live.start(started.suggestion, deadline=deadline)
    return _respond(request, started.suggestion, reader, deadline)


def _open(request: HttpRequest, pk: int) -> tuple[Suggestion, int]:
    """An events request's sync work, in one hop: authorize, read where to resume and the
    suggestion (someone else's is not found), and mark it followed if another process runs it.
    """
    user = authorize(request)
    after = _last_event_id(request)
    suggestion = selectors.suggestion_get(user=user, pk=pk)
    if suggestion is None:
        raise exceptions.NotFound
    live.follow_mark(suggestion)
    return suggestion, after


def _last_event_id(request: HttpRequest) -> int:
    """Return the id of the last event the client has (as EventSource sends it), or 0."""
    value = request.headers.get("Last-Event-ID", request.GET.get("lastEventId", "")).strip()
    if not value:
        return 0
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise exceptions.ParseError(
            "Last-Event-ID (or lastEventId) must be the id of an event of this suggestion's "
            "stream: a whole number."
        )
    return int(value)


async def _events(request: HttpRequest, pk: int) -> HttpResponse:
    deadline = services.call_deadline()  # this reader's own
    try:
        suggestion, after = await sync_to_async(_open)(request, pk)
    except exceptions.APIException as error:
        return _refused(error)
    return _respond(request, suggestion, live.read(suggestion, after=after), deadline)


def _respond(
    request: HttpRequest, suggestion: Suggestion, reader: live.Reader, deadline: float
) -> "SuggestionStream":
    response = SuggestionStream(suggestion, reader, content_type="text/event-stream")
    request.stream = response  # type: ignore[attr-defined]  # for config.asgi.Handler
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell proxies such as nginx not to buffer
    response["X-Suggestion-Id"] = str(suggestion.pk)  # where to resume, before the metadata
    # Its sends end soon after, even if its client stops reading (config.asgi.Handler): the
    # call's own end at its deadline, an error event, comes first.
    response.deadline = deadline + 2
    return response


class SuggestionStream(StreamingHttpResponse):
    """The event stream of one reader of a suggestion, which lets go of it when closed, even if
    it was never iterated."""

    deadline: float  # on the event loop's clock

    def __init__(self, suggestion: Suggestion, reader: live.Reader, **kwargs: Any) -> None:
        events = reader.events()
        super().__init__(events, **kwargs)
        self.suggestion = suggestion
        self._events = events
        self._reader = reader
        self._loop = asyncio.get_running_loop()

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The events are bytes already: Django's own iteration would pass each through two
        # generators more (for make_bytes), and a relay pays for every step of every event.
        return self._events

    def close(self) -> None:
        # A client that leaves before the first event cancels the stream before it starts,
        # so the events' own clean-up never runs; Django closes every response it sent, in a
        # thread, and the reader lives on the event loop.
        with contextlib.suppress(RuntimeError):  # the loop closed: the process is stopping
            self._loop.call_soon_threadsafe(self._reader.close)
        super().close()


def _only(method: str) -> Any:
    """Answer any other method with a 405 in JSON, as the API's other endpoints do."""

    def decorator(view: Any) -> Any:
        @functools.wraps(view)
        async def only(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method != method:
                detail = f'Method "{request.method}" not allowed.'
                response = JsonResponse({"detail": detail}, status=405)
                response["Allow"] = method
                return response
            return await view(request, *args, **kwargs)

        return only

    return decorator


_post_only = _only("POST")


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


@csrf_exempt  # GET only: any other method gets its 405
@_only("GET")
async def suggestion_events(request: HttpRequest, pk: int) -> HttpResponse:
    """Replay a suggestion's events, or those after Last-Event-ID, then follow it live."""
    return await _events(request, pk)
