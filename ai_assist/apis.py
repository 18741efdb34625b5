"""The AI assistant's JSON API: the three legacy operations, the review of suggestions, and
stopping one."""

import re
from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ai_assist import live, schema, selectors, services, usage
from ai_assist.models import Suggestion
from ai_assist.providers import ProviderError
from ai_assist.serializers import AcceptSerializer, AIRequestSerializer
from issues.models import KEY_INPUT_PATTERN
from issues.serializers import IssueSerializer


@extend_schema_serializer(component_name="Suggestion")
class SuggestionOutputSerializer(serializers.ModelSerializer):
    issue = serializers.CharField(source="issue_key", help_text="The issue's key.")
    reviewStatus = serializers.ChoiceField(
        source="review_status", choices=Suggestion.ReviewStatus.choices
    )
    promptTokens = serializers.IntegerField(source="prompt_tokens", allow_null=True)
    completionTokens = serializers.IntegerField(source="completion_tokens", allow_null=True)
    totalTokens = serializers.IntegerField(source="total_tokens", allow_null=True)
    costUsd = serializers.FloatField(
        source="cost_usd",
        allow_null=True,
        help_text="What the call cost in USD, from its tokens and AI_PRICES; null when unknown.",
    )
    rawConfidence = serializers.FloatField(
        source="raw_confidence",
        allow_null=True,
        help_text="The confidence before calibration on review outcomes.",
    )
    timeToFirstTokenMs = serializers.FloatField(source="time_to_first_token_ms", allow_null=True)
    durationMs = serializers.FloatField(source="duration_ms", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    reviewedAt = serializers.DateTimeField(source="reviewed_at", allow_null=True)
    applied = serializers.JSONField(
        allow_null=True,
        help_text="What accepting applied, in the shape of the accept's body; null until then.",
    )
    edited = serializers.BooleanField(
        allow_null=True, help_text="Whether what was applied differs from the proposal."
    )
    revertedAt = serializers.DateTimeField(source="reverted_at", allow_null=True)

    class Meta:
        model = Suggestion
        fields = [
            "id",
            "kind",
            "issue",
            "status",
            "text",
            "confidence",
            "rawConfidence",
            "metadata",
            "model",
            "reviewStatus",
            "error",
            "promptTokens",
            "completionTokens",
            "totalTokens",
            "costUsd",
            "timeToFirstTokenMs",
            "durationMs",
            "createdAt",
            "finishedAt",
            "reviewedAt",
            "applied",
            "edited",
            "revertedAt",
        ]
        read_only_fields = fields


class SuggestionListApi(generics.ListAPIView):
    """List your suggestions (staff: everyone's), newest first."""

    class FilterSerializer(serializers.Serializer):
        issue = serializers.RegexField(
            KEY_INPUT_PATTERN,
            max_length=32,
            required=False,
            help_text="An issue's key, like ISSUE-123.",
            error_messages={"invalid": "An issue key looks like ISSUE-123."},
        )
        kind = serializers.ChoiceField(choices=Suggestion.Kind.choices, required=False)
        status = serializers.ChoiceField(choices=Suggestion.Status.choices, required=False)
        reviewStatus = serializers.ChoiceField(
            choices=Suggestion.ReviewStatus.choices, required=False
        )

        def to_internal_value(self, data: Any) -> Any:
            # Keys are upper case and the other values lower case, whatever case they come in.
            data = {
                name: value.upper() if name == "issue" else value.lower()
                for name, value in data.items()
                if name in self.fields
            }
            return super().to_internal_value(data)

    serializer_class = SuggestionOutputSerializer

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = self.FilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return selectors.suggestion_list(user=self.request.user, filters=filters.validated_data)


def _suggestion(request: Request, pk: int) -> Suggestion:
    # Another user's suggestion is answered as missing: its existence is not theirs to know.
    suggestion = selectors.suggestion_get(user=request.user, pk=pk)
    if suggestion is None:
        raise Http404
    return suggestion


class SuggestionDetailApi(APIView):
    @extend_schema(responses=SuggestionOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(SuggestionOutputSerializer(_suggestion(request, pk)).data)


class SuggestionAcceptApi(APIView):
    """Apply a completed, pending suggestion to its issue and mark it accepted.

    Refine sets the issue's description, estimate its story points, breakdown creates its
    subtasks: as proposed, or as the body has them (refine `refinedDescription`, estimate
    `storyPoints`, breakdown `subtasks`, each checked as an issue's fields are; 400 otherwise,
    and nothing is applied). 409 when the suggestion is not completed and pending, its issue
    is not stored, or the field it would overwrite was changed since the suggestion was made.
    """

    @extend_schema_serializer(component_name="Acceptance")
    class OutputSerializer(SuggestionOutputSerializer):
        appliedIssue = IssueSerializer(source="issue", help_text="The issue as it is now.")
        createdIssues = serializers.SerializerMethodField(
            help_text="The subtasks a breakdown created."
        )

        class Meta(SuggestionOutputSerializer.Meta):
            fields = [*SuggestionOutputSerializer.Meta.fields, "appliedIssue", "createdIssues"]

        @extend_schema_field(IssueSerializer(many=True))
        def get_createdIssues(self, suggestion: Suggestion) -> Any:
            return IssueSerializer(self.context["created"], many=True).data

    @extend_schema(
        request=AcceptSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="A bad value: each bad field with its errors."),
            409: schema.DetailSerializer,
            404: None,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        suggestion = _suggestion(request, pk)
        body = AcceptSerializer(data=request.data, context={"kind": suggestion.kind})
        body.is_valid(raise_exception=True)
        try:
            acceptance = services.suggestion_accept(
                suggestion=suggestion, user=request.user, changes=body.validated_data or None
            )
        except services.SuggestionConflict as error:
            return Response({"detail": error.message}, status=status.HTTP_409_CONFLICT)
        output = self.OutputSerializer(
            acceptance.suggestion, context={"created": acceptance.created}
        )
        return Response(output.data)


class SuggestionRevertApi(APIView):
    """Undo an accepted suggestion, all or nothing, and mark it reverted.

    The description or story points it replaced come back; the issues it created are
    deleted. 409 when it is not accepted, or when anything it touched changed since (the
    detail names what).
    """

    @extend_schema_serializer(component_name="Reversal")
    class OutputSerializer(SuggestionOutputSerializer):
        restoredIssue = IssueSerializer(
            source="issue", allow_null=True, help_text="The issue as it is now."
        )
        deletedIssues = serializers.SerializerMethodField(
            help_text="The keys of the issues the undo deleted (a breakdown's subtasks)."
        )

        class Meta(SuggestionOutputSerializer.Meta):
            fields = [*SuggestionOutputSerializer.Meta.fields, "restoredIssue", "deletedIssues"]

        def get_deletedIssues(self, suggestion: Suggestion) -> list[str]:
            return self.context["deleted"]

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, 409: schema.DetailSerializer, 404: None},
    )
    def post(self, request: Request, pk: int) -> Response:
        try:
            reversal = services.suggestion_revert(
                suggestion=_suggestion(request, pk), user=request.user
            )
        except services.SuggestionConflict as error:
            return Response({"detail": error.message}, status=status.HTTP_409_CONFLICT)
        reversal.suggestion.issue = reversal.issue
        output = self.OutputSerializer(reversal.suggestion, context={"deleted": reversal.deleted})
        return Response(output.data)


class SuggestionRejectApi(APIView):
    """Mark a completed, pending suggestion rejected; 409 otherwise."""

    @extend_schema(
        request=None,
        responses={200: SuggestionOutputSerializer, 409: schema.DetailSerializer, 404: None},
    )
    def post(self, request: Request, pk: int) -> Response:
        try:
            suggestion = services.suggestion_reject(
                suggestion=_suggestion(request, pk), user=request.user
            )
        except services.SuggestionConflict as error:
            return Response({"detail": error.message}, status=status.HTTP_409_CONFLICT)
        return Response(SuggestionOutputSerializer(suggestion).data)


class SuggestionCancelApi(APIView):
    """Stop a running suggestion at once: it ends cancelled with its text so far, and each
    reader gets one error event saying it was stopped. 409 when it is not running."""

    @extend_schema(
        request=None,
        responses={
            200: SuggestionOutputSerializer,
            409: schema.DetailSerializer,
            503: schema.DetailSerializer,
            404: None,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        suggestion = _suggestion(request, pk)
        if suggestion.status == Suggestion.Status.STREAMING:
            suggestion = async_to_sync(live.cancel)(suggestion)
            if suggestion.status == Suggestion.Status.CANCELLED:
                return Response(SuggestionOutputSerializer(suggestion).data)
        if suggestion.status == Suggestion.Status.STREAMING:
            detail = "The server running this suggestion did not stop it in time; try again."
            return Response({"detail": detail}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        detail = f"Only a running suggestion can be stopped; this one is {suggestion.status}."
        return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)


class IdempotencyKeyReused(exceptions.APIException):
    status_code = 422
    default_detail = "This Idempotency-Key was sent with another request."


# 1 to 255 visible ASCII characters.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class UsageApi(APIView):
    """Your AI usage in the calendar month so far (UTC): tokens, cost, budget, calls per kind."""

    @extend_schema_serializer(component_name="Usage")
    class OutputSerializer(serializers.Serializer):
        periodStart = serializers.DateTimeField(source="period_start")
        periodEnd = serializers.DateTimeField(
            source="period_end", help_text="The next month's first instant (UTC)."
        )
        tokens = serializers.IntegerField(help_text="Tokens of your calls this month.")
        costUsd = serializers.FloatField(
            source="cost_usd", help_text="What your calls this month cost in USD (AI_PRICES)."
        )
        unpricedCalls = serializers.IntegerField(
            source="unpriced_calls",
            help_text="Calls whose model has no known price: their cost is not in costUsd.",
        )
        budget = serializers.IntegerField(
            allow_null=True, help_text="Your monthly token budget; null: none."
        )
        remaining = serializers.IntegerField(allow_null=True)
        calls = serializers.DictField(
            child=serializers.IntegerField(), help_text="Calls this month per kind."
        )

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(usage.month_usage(user=request.user)).data)


def start_suggestion(
    *, user: Any, kind: str, data: Any, key: str | None = None
) -> services.Started:
    """Validate an AI request and store its suggestion, for the streams and the JSON endpoints;
    with an Idempotency-Key `key`, find the suggestion an earlier request with it started.

    Raise DRF's APIException for a request that is refused; nothing is stored then.
    """
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise serializers.ValidationError(
            {"Idempotency-Key": ["An Idempotency-Key is 1 to 255 visible ASCII characters."]}
        )
    serializer = AIRequestSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        if key is None:
            suggestion = services.suggestion_start(user=user, kind=kind, data=data)
            return services.Started(suggestion, repeat=False)
        return services.suggestion_start_once(user=user, kind=kind, data=data, key=key)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from error
    except services.TooManyCalls as error:
        wait = None if error.says_when else error.retry_after  # DRF adds "in N seconds"
        throttled = exceptions.Throttled(wait=wait, detail=error.message)
        throttled.wait = error.retry_after  # Retry-After all the same
        raise throttled from error
    except services.IdempotencyConflict as error:
        raise IdempotencyKeyReused(error.message) from error


class _OperationApi(APIView):
    """Run one AI operation to its end and answer with JSON (the streams' legacy twins)."""

    kind: str

    def post(self, request: Request) -> Response:
        started = start_suggestion(
            user=request.user,
            kind=self.kind,
            data=request.data,
            key=request.headers.get("Idempotency-Key"),
        )
        if started.repeat:
            live.follow_mark(started.suggestion)
        try:
            answer = async_to_sync(live.answer)(started)
        except ProviderError as error:
            timed_out = error.reason == ProviderError.TIMEOUT
            code = status.HTTP_504_GATEWAY_TIMEOUT if timed_out else status.HTTP_502_BAD_GATEWAY
            return Response({"error": error.message}, status=code)
        except live.Stopped as error:
            return Response({"error": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(answer)


SUMMARIES = {
    "refine": "Refine a description, as one JSON answer",
    "estimate": "Estimate story points, as one JSON answer",
    "breakdown": "Break an issue down, as one JSON answer",
}


def _operation_schema(kind: str) -> Any:
    return extend_schema_view(
        post=extend_schema(
            summary=SUMMARIES[kind],
            request=AIRequestSerializer,
            responses={
                200: schema.ANSWERS[kind],
                400: OpenApiResponse(description="Bad input: each bad field with its errors."),
                429: OpenApiResponse(
                    schema.DetailSerializer,
                    description=(
                        "Too many calls, too many running at once, or the monthly token budget "
                        "spent; see Retry-After."
                    ),
                ),
                409: OpenApiResponse(
                    schema.ErrorSerializer, description="The call was stopped before it ended."
                ),
                422: schema.KEY_REUSED,
                502: OpenApiResponse(schema.ErrorSerializer, description="The AI service failed."),
                504: OpenApiResponse(
                    schema.ErrorSerializer, description="The AI service did not answer in time."
                ),
            },
            parameters=[schema.IDEMPOTENCY_KEY],
        )
    )


@_operation_schema(Suggestion.Kind.REFINE)
class RefineDescriptionApi(_OperationApi):
    """Refine an issue's description; the suggestion is stored for review."""

    kind = Suggestion.Kind.REFINE


@_operation_schema(Suggestion.Kind.ESTIMATE)
class EstimatePointsApi(_OperationApi):
    """Estimate an issue's story points; the suggestion is stored for review."""

    kind = Suggestion.Kind.ESTIMATE


@_operation_schema(Suggestion.Kind.BREAKDOWN)
class BreakdownIssueApi(_OperationApi):
    """Break an issue down into subtasks; the suggestion is stored for review."""

    kind = Suggestion.Kind.BREAKDOWN
