"""The OpenAPI description of the AI answers: the JSON shapes, and the three event streams."""

import json
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from ai_assist.prompts import SCALE
from ai_assist.serializers import AIRequestSerializer

POINT_CHOICES = [(points, points) for points in SCALE]


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the request was refused, for a person.")


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, for a person.")


class SubtaskSerializer(serializers.Serializer):
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    storyPoints = serializers.ChoiceField(choices=POINT_CHOICES, allow_null=True)
    duplicateOf = serializers.CharField(
        allow_null=True,
        help_text="The key of an existing issue of the project that it most likely repeats.",
    )


class RefineMetadataSerializer(serializers.Serializer):
    suggestionId = serializers.IntegerField()
    improvementsCount = serializers.IntegerField()
    refinedDescription = serializers.CharField(help_text="The description to apply (markdown).")


class SimilarIssueSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    storyPoints = serializers.IntegerField(allow_null=True)
    similarity = serializers.FloatField(min_value=0, max_value=1)


class EstimateMetadataSerializer(serializers.Serializer):
    suggestionId = serializers.IntegerField()
    suggestedPoints = serializers.IntegerField(
        min_value=0,
        help_text="A whole number on the team's scale: the point values its project's issues "
        "use (1, 2, 3, 5, 8, 13 or 21 for a project with no history).",
    )
    similarIssues = SimilarIssueSerializer(
        many=True,
        help_text="Up to 5 past issues of the same project the estimate rests on, most "
        "similar first (empty without history).",
    )


class BreakdownMetadataSerializer(serializers.Serializer):
    suggestionId = serializers.IntegerField()
    subtasksCount = serializers.IntegerField()
    totalPoints = serializers.IntegerField()
    complexity = serializers.ChoiceField(choices=["low", "medium", "high"])
    subtasks = SubtaskSerializer(many=True)


METADATA = {
    "refine": RefineMetadataSerializer,
    "estimate": EstimateMetadataSerializer,
    "breakdown": BreakdownMetadataSerializer,
}
NAMES = {"refine": "Refine", "estimate": "Estimate", "breakdown": "Breakdown"}


def _confidence() -> serializers.FloatField:
    return serializers.FloatField(min_value=0, max_value=1)


def _answer(kind: str) -> type[serializers.Serializer]:
    """The legacy endpoint's answer: what the stream carries, as one JSON object."""
    fields = {
        "suggestionId": serializers.IntegerField(),
        "kind": serializers.CharField(help_text=f'Always "{kind}".'),
        "text": serializers.CharField(help_text="The answer meant for a person (markdown)."),
        "confidence": _confidence(),
        "metadata": METADATA[kind](),
    }
    return type(f"{NAMES[kind]}AnswerSerializer", (serializers.Serializer,), fields)


ANSWERS = {kind: _answer(kind) for kind in METADATA}


class TextEventSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='Always "text".')
    content = serializers.CharField(help_text="The next piece of the answer (markdown).")


class ConfidenceEventSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='Always "confidence".')
    value = _confidence()


class ErrorEventSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='Always "error".')
    message = serializers.CharField(help_text="What went wrong, for a person.")


def _metadata_event(kind: str) -> type[serializers.Serializer]:
    fields = {
        "type": serializers.CharField(help_text='Always "metadata".'),
        "value": METADATA[kind](),
    }
    return type(f"{NAMES[kind]}MetadataEventSerializer", (serializers.Serializer,), fields)


METADATA_EVENTS = {kind: _metadata_event(kind) for kind in METADATA}


STREAM = """Server-Sent Events (`text/event-stream`). Each event is an `id:` line and one `data:`
line holding one JSON object (one of the shapes below), then a blank line; `: ping` comment lines
may appear too. `text` events, in order, make up the answer; then exactly one `confidence` and
one `metadata` event, and the stream ends. On failure at any point: one `error` event, and the
stream ends. The `X-Suggestion-Id` header names the suggestion, to follow it again with
`GET /api/ai/suggestions/{id}/events` should the connection drop. Bad input, missing
credentials and limits are answered with JSON, never a stream."""

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description=(
        "1 to 255 visible ASCII characters. The same key from the same user within 24 hours "
        "starts nothing new: the stream follows the call it started from its start, the JSON "
        "operation waits for its end and answers the same. With another request: 422."
    ),
)
KEY_REUSED = OpenApiResponse(
    DetailSerializer, description="The Idempotency-Key was sent with another request."
)

EVENTS = """Replay the suggestion's events from its start, or only those after the event named by
`Last-Event-ID` (or `?lastEventId=`), then follow it live until it ends; the same events and
ids as its stream. Text may be cut differently from the first time; the text put together is
the stored `text`. A cancelled suggestion ends with an `error` event saying it was stopped."""


EXAMPLE_METADATA = {
    "refine": {
        "suggestionId": 42,
        "improvementsCount": 2,
        "refinedDescription": "## Goal\n\nUsers log in with email and password.",
    },
    "estimate": {
        "suggestionId": 42,
        "suggestedPoints": 5,
        "similarIssues": [
            {"key": "SHOP-12", "title": "Log in with Google", "storyPoints": 5, "similarity": 0.62},
            {"key": "SHOP-40", "title": "Log in with GitHub", "storyPoints": 3, "similarity": 0.48},
        ],
    },
    "breakdown": {
        "suggestionId": 42,
        "subtasksCount": 2,
        "totalPoints": 5,
        "complexity": "low",
        "subtasks": [
            {"title": "Build the form", "description": "Email and password.", "storyPoints": 2},
            {"title": "Check the password", "description": "", "storyPoints": 3},
        ],
    },
}


def _stream_examples(kind: str) -> list[OpenApiExample]:
    def stream(*events: dict[str, Any]) -> str:
        return "".join(f"data: {json.dumps(event, separators=(',', ':'))}\n\n" for event in events)

    return [
        OpenApiExample(
            "Completed",
            value=stream(
                {"type": "text", "content": "Here is "},
                {"type": "text", "content": "the answer."},
                {"type": "confidence", "value": 0.85},
                {"type": "metadata", "value": EXAMPLE_METADATA[kind]},
            ),
            media_type="text/event-stream",
        ),
        OpenApiExample(
            "Failed",
            value=stream(
                {"type": "text", "content": "Here is "},
                {
                    "type": "error",
                    "message": "The AI service's answer was cut off before it ended.",
                },
            ),
            media_type="text/event-stream",
        ),
    ]


def _stream_view(kind: str, summary: str) -> type[APIView]:
    """A view that only describes a stream: the stream itself is a plain async Django view."""
    events = PolymorphicProxySerializer(
        component_name=f"{NAMES[kind]}StreamEvent",
        serializers={
            "text": TextEventSerializer,
            "confidence": ConfidenceEventSerializer,
            "metadata": METADATA_EVENTS[kind],
            "error": ErrorEventSerializer,
        },
        resource_type_field_name="type",
    )

    @extend_schema(
        summary=summary,
        description=STREAM,
        request=AIRequestSerializer,
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                events, description="The event stream.", examples=_stream_examples(kind)
            ),
            400: OpenApiResponse(description="Bad input: each bad field with its errors."),
            401: OpenApiResponse(DetailSerializer, description="No credentials."),
            403: OpenApiResponse(DetailSerializer, description="A session without CSRF token."),
            429: OpenApiResponse(
                DetailSerializer,
                description=(
                    "Too many calls, too many running at once, or the monthly token budget "
                    "spent; see Retry-After."
                ),
            ),
            422: KEY_REUSED,
        },
        parameters=[IDEMPOTENCY_KEY],
        operation_id=f"ai_{kind}_stream",
        tags=["ai"],
    )
    def post(self: APIView, request: Any) -> None:
        raise NotImplementedError

    attributes = {"post": post, "parser_classes": [JSONParser]}
    return type(f"{NAMES[kind]}StreamSchema", (APIView,), attributes)


STREAMS = {
    "refine-stream": _stream_view("refine", "Refine a description, streamed"),
    "estimate-stream": _stream_view("estimate", "Estimate story points, streamed"),
    "breakdown-stream": _stream_view("breakdown", "Break an issue down, streamed"),
}


def _events_view() -> type[APIView]:
    events = PolymorphicProxySerializer(
        component_name="SuggestionStreamEvent",
        serializers={
            "text": TextEventSerializer,
            "confidence": ConfidenceEventSerializer,
            "metadata": PolymorphicProxySerializer(
                component_name="AnyMetadataEvent",
                serializers=list(METADATA_EVENTS.values()),
                resource_type_field_name=None,
            ),
            "error": ErrorEventSerializer,
        },
        resource_type_field_name="type",
    )

    @extend_schema(
        summary="Follow a suggestion's events",
        description=EVENTS,
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH),
            OpenApiParameter(
                "Last-Event-ID",
                str,
                OpenApiParameter.HEADER,
                description="The id of the last event the client has (EventSource sends it).",
            ),
            OpenApiParameter(
                "lastEventId", str, description="The same, for clients that cannot set it."
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(events, description="The event stream."),
            400: OpenApiResponse(DetailSerializer, description="A Last-Event-ID that is no id."),
            401: OpenApiResponse(DetailSerializer, description="No credentials."),
            404: OpenApiResponse(DetailSerializer, description="No such suggestion of yours."),
        },
        operation_id="ai_suggestion_events",
        tags=["ai"],
    )
    def get(self: APIView, request: Any, pk: int) -> None:
        raise NotImplementedError

    return type("SuggestionEventsSchema", (APIView,), {"get": get})


def add_streams(endpoints: list[tuple]) -> list[tuple]:
    """Add the event streams, which drf-spectacular cannot see (they are not DRF views)."""
    for name, view in STREAMS.items():
        path = reverse(name)
        endpoints.append((path, path.lstrip("/"), "POST", view.as_view()))
    path = "/api/ai/suggestions/{pk}/events"
    endpoints.append((path, path.lstrip("/"), "GET", _events_view().as_view()))
    return endpoints


class _JsonErrors:
    """Answer refusals with JSON, as every /api/ endpoint does, whatever format was asked for."""

    request: Any

    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)  # type: ignore[misc]
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(_JsonErrors, SpectacularAPIView):
    """The OpenAPI 3 schema (YAML; JSON with ?format=json), for authenticated users."""


class DocsView(_JsonErrors, SpectacularSwaggerView):
    """Swagger UI; a browser that is not logged in is sent to the login page first."""

    def handle_exception(self, exc: Exception) -> Any:
        wants_page = "text/html" in self.request.headers.get("Accept", "")
        if wants_page and isinstance(exc, NotAuthenticated | AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
