"""Admin of AI suggestions: read them, and accept or reject them exactly as the API does."""

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from ai_assist import services, usage
from ai_assist.models import Suggestion, TokenBudget
from ai_assist.review import review_details
from ai_assist.serializers import AcceptSerializer
from issues.admin import IssueAdmin
from issues.markdown import markdown_html
from issues.models import Issue

# The admin's read-only fields are small and grey: the text under review is shown as body text.
TEXT_STYLE = (
    "white-space: pre-wrap; max-width: 60em; margin: 0; padding: 0; font-family: inherit; "
    "font-size: 0.875rem; color: var(--body-fg); background: none;"
)


SHORT_KINDS = {
    Suggestion.Kind.REFINE: "Refine",
    Suggestion.Kind.ESTIMATE: "Estimate",
    Suggestion.Kind.BREAKDOWN: "Break down",
}

MARKDOWN_STYLE = "max-width: 60em; font-size: 0.875rem; color: var(--body-fg);"


def _percent(suggestion: Suggestion) -> str | None:
    return None if suggestion.confidence is None else f"{suggestion.confidence:.0%}"


def _review(suggestion: Suggestion) -> str | None:
    """The review state, for a completed suggestion only: a call that failed or was cancelled
    has nothing to review (its stored "pending" is only the field's default)."""
    if suggestion.status != Suggestion.Status.COMPLETED:
        return None
    return suggestion.get_review_status_display()


def _points(points: int | None) -> str:
    if points is None:
        return "no estimate"
    return f"{points} point" if points == 1 else f"{points} points"


def _json(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return format_html('<pre style="{}">{}</pre>', TEXT_STYLE, text)


def _issue_link(suggestion: Suggestion) -> str:
    if suggestion.issue_id is None:
        return format_html("{} <small>(not stored)</small>", suggestion.issue_key)
    url = reverse("admin:issues_issue_change", args=[suggestion.issue_id])
    return format_html('<a href="{}">{}</a>', url, suggestion.issue_key)


class SuggestionInline(admin.TabularInline):
    """An issue's suggestions, newest first, each linked to its page."""

    model = Suggestion
    fk_name = "issue"
    fields = ["kind", "status", "confidence_percent", "review", "user", "created_at"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="confidence", ordering="confidence")
    def confidence_percent(self, suggestion: Suggestion) -> str | None:
        return _percent(suggestion)

    @admin.display(description="review", ordering="review_status")
    def review(self, suggestion: Suggestion) -> str | None:
        return _review(suggestion)


# Issues in admin show their suggestions: ai_assist adds its inline to the issue admin from its
# own side (issues never imports ai_assist), as a subclass registered in place of issues' own.
class IssueWithSuggestionsAdmin(IssueAdmin):
    inlines = [*IssueAdmin.inlines, SuggestionInline]


admin.site.unregister(Issue)
admin.site.register(Issue, IssueWithSuggestionsAdmin)


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    # Narrow enough for a 1,280-pixel screen beside admin's sidebar and filters: the id and
    # the kind in one column, the status and the review in another; the model is on each
    # suggestion's page and among the filters.
    list_display = ["name", "issue_link", "outcome", "confidence_percent", "cost", "user", "age"]
    list_display_links = ["name"]
    list_filter = ["kind", "status", "review_status", "provider", "model"]
    list_select_related = ["issue", "user"]
    search_fields = ["issue_key", "issue__title", "text", "error", "user__username"]
    date_hierarchy = "created_at"
    actions = ["accept", "reject", "revert"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("issue_link", "kind", "user"),
                    ("status", "review", "reviewed_by", "reviewed_at"),
                    ("edited", "reverted_by", "reverted_at"),
                ]
            },
        ),
        (
            "Answer",
            {
                "fields": [
                    "text_readable",
                    "applies",
                    "evidence",
                    ("confidence_percent", "raw_confidence_percent"),
                    "error",
                ]
            },
        ),
        (
            "Model and usage",
            {
                "fields": [
                    ("provider", "model"),
                    ("prompt_tokens", "completion_tokens", "total_tokens", "cost"),
                    ("time_to_first_token_ms", "duration_ms"),
                    ("created_at", "finished_at"),
                ]
            },
        ),
        (
            "What the model saw and said",
            {
                "fields": ["context_readable", "request_readable", "metadata_readable"],
                "classes": ["collapse"],
            },
        ),
    ]
    readonly_fields = [
        "issue_link",
        "review",
        "edited",
        "reverted_by",
        "reverted_at",
        "text_readable",
        "applies",
        "evidence",
        "confidence_percent",
        "raw_confidence_percent",
        "cost",
        "context_readable",
        "request_readable",
        "metadata_readable",
    ]

    # Suggestions are made by AI calls and changed only by review: the page is read-only, and
    # reviewing takes the permission to change suggestions.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ai_assist.change_suggestion")

    @admin.display(description="issue", ordering="issue_key")
    def issue_link(self, suggestion: Suggestion) -> str:
        return _issue_link(suggestion)

    @admin.display(description="confidence", ordering="confidence")
    def confidence_percent(self, suggestion: Suggestion) -> str | None:
        return _percent(suggestion)

    # Not sortable: "age" sorts the same, and the sort's arrows would widen the column.
    @admin.display(description="suggestion")
    def name(self, suggestion: Suggestion) -> str:
        return f"#{suggestion.pk} {SHORT_KINDS[suggestion.kind]}"

    @admin.display(description="review", ordering="review_status")
    def review(self, suggestion: Suggestion) -> str | None:
        return _review(suggestion)

    @admin.display(description="outcome", ordering="status")
    def outcome(self, suggestion: Suggestion) -> str:
        """How the call ended and, once completed, its review: one column for both."""
        if review := _review(suggestion):
            return "Pending review" if review == "Pending" else review
        return suggestion.get_status_display()

    @admin.display(description="confidence before calibration", ordering="raw_confidence")
    def raw_confidence_percent(self, suggestion: Suggestion) -> str | None:
        raw = suggestion.raw_confidence
        return None if raw is None else f"{raw:.0%}"

    @admin.display(description="cost", ordering="cost_usd")
    def cost(self, suggestion: Suggestion) -> str:
        return usage.usd(suggestion.cost_usd)

    @admin.display(description="age", ordering="-created_at")
    def age(self, suggestion: Suggestion) -> str:
        return f"{timesince(suggestion.created_at).split(',')[0]} ago"

    @admin.display(description="text")
    def text_readable(self, suggestion: Suggestion) -> SafeString | None:
        if not suggestion.text:
            return None
        text = markdown_html(suggestion.text)
        return format_html('<div style="{}">{}</div>', MARKDOWN_STYLE, text)

    @admin.display(description="accepting it would")
    def applies(self, suggestion: Suggestion) -> SafeString | str | None:
        result = suggestion.result
        if not result:
            return None
        if suggestion.kind == Suggestion.Kind.REFINE:
            return format_html(
                'set the description to:<div style="{}">{}</div>',
                MARKDOWN_STYLE,
                markdown_html(result["refinedDescription"]),
            )
        if suggestion.kind == Suggestion.Kind.ESTIMATE:
            return f"set the story points to {result['storyPoints']}"
        if not result["subtasks"]:
            return "create nothing: the issue's children already cover the work"
        rows = format_html_join(
            "",
            "<li>{} ({}){}</li>",
            (
                (
                    task["title"],
                    _points(task["storyPoints"]),
                    format_html("<br><small>{}</small>", task["description"])
                    if task["description"]
                    else "",
                )
                for task in result["subtasks"]
            ),
        )
        return format_html("create these subtasks:<ol>{}</ol>", rows)

    @admin.display(description="the estimate rests on")
    def evidence(self, suggestion: Suggestion) -> SafeString | None:
        similar = (suggestion.metadata or {}).get("similarIssues")
        if not similar:
            return None
        keys = [item["key"] for item in similar]
        ids = dict(Issue.objects.filter(key__in=keys).values_list("key", "id"))
        rows = format_html_join(
            "",
            "<li>{} {} ({}, {} similar)</li>",
            (
                (
                    format_html(
                        '<a href="{}">{}</a>',
                        reverse("admin:issues_issue_change", args=[ids[item["key"]]]),
                        item["key"],
                    )
                    if item["key"] in ids
                    else item["key"],  # deleted since
                    item["title"],
                    _points(item["storyPoints"]),
                    f"{item['similarity']:.0%}",
                )
                for item in similar
            ),
        )
        return format_html("<ol>{}</ol>", rows)

    @admin.display(description="context")
    def context_readable(self, suggestion: Suggestion) -> SafeString:
        return _json(suggestion.context)

    @admin.display(description="request")
    def request_readable(self, suggestion: Suggestion) -> SafeString:
        return _json(suggestion.request)

    @admin.display(description="metadata")
    def metadata_readable(self, suggestion: Suggestion) -> SafeString:
        return _json(suggestion.metadata)

    @admin.action(description="Accept and apply the selected suggestions", permissions=["review"])
    def accept(self, request: HttpRequest, queryset: QuerySet[Suggestion]) -> None:
        self._review(request, queryset, services.suggestion_accept, "accepted")

    @admin.action(description="Reject the selected suggestions", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Suggestion]) -> None:
        self._review(request, queryset, services.suggestion_reject, "rejected")

    @admin.action(description="Undo the selected accepted suggestions", permissions=["review"])
    def revert(self, request: HttpRequest, queryset: QuerySet[Suggestion]) -> None:
        # Newest first: the later of two changes to one field is undone before the earlier.
        suggestions = sorted(queryset, key=lambda s: (s.reviewed_at or s.created_at, s.pk))
        self._review(request, reversed(suggestions), services.suggestion_revert, "undone")

    def _review(
        self,
        request: HttpRequest,
        suggestions: Iterable[Suggestion],
        review: Callable[..., Any],
        done: str,
    ) -> None:
        # Oldest first (the list as given for undo): of two estimates for one issue, the first
        # applies and the second is refused, since the points it would overwrite changed since.
        if review is not services.suggestion_revert:
            suggestions = sorted(suggestions, key=lambda s: (s.created_at, s.pk))
        reviewed = 0
        for suggestion in suggestions:
            try:
                review(suggestion=suggestion, user=request.user)
            except services.SuggestionConflict as error:
                self.message_user(request, f"#{suggestion.pk}: {error.message}", messages.WARNING)
            else:
                reviewed += 1
        if reviewed:
            noun = "suggestion" if reviewed == 1 else "suggestions"
            self.message_user(request, f"{reviewed} {noun} {done}.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        review = path(
            "<int:pk>/review/",
            self.admin_site.admin_view(self.review_view),
            name="ai_assist_suggestion_review",
        )
        return [review, *super().get_urls()]

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Review one suggestion from its page: accept (with the values edited there),
        reject, or undo."""
        if request.method != "POST" or not self.has_review_permission(request):
            raise PermissionDenied
        suggestion = get_object_or_404(Suggestion, pk=pk)
        if "revert" in request.POST:
            self._review(request, [suggestion], services.suggestion_revert, "undone")
        elif "accept" in request.POST:
            body = AcceptSerializer(
                data=_changes(suggestion, request.POST), context={"kind": suggestion.kind}
            )
            if body.is_valid():
                accept = functools.partial(
                    services.suggestion_accept, changes=body.validated_data or None
                )
                self._review(request, [suggestion], accept, "accepted")
            else:
                self.message_user(
                    request,
                    f"#{suggestion.pk}: nothing was applied. {_errors(body.errors)}",
                    messages.ERROR,
                )
        else:
            self._review(request, [suggestion], services.suggestion_reject, "rejected")
        return redirect("admin:ai_assist_suggestion_change", pk)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        suggestion = context.get("original")
        if (
            suggestion is not None
            and suggestion.status == Suggestion.Status.COMPLETED
            and self.has_review_permission(request)
        ):
            issue = suggestion.issue or Issue.objects.filter(key=suggestion.issue_key).first()
            context["review"] = review_details(suggestion, issue)
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(TokenBudget)
class TokenBudgetAdmin(admin.ModelAdmin):
    """Each user's own monthly token budget, in place of AI_MONTHLY_TOKEN_BUDGET."""

    list_display = ["user", "budget", "used_this_month"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]
    fields = ["user", "monthly_tokens", "default", "used_this_month"]
    readonly_fields = ["default", "used_this_month"]

    @admin.display(description="monthly tokens", ordering="monthly_tokens")
    def budget(self, budget: TokenBudget) -> str:
        return "no limit" if budget.monthly_tokens is None else f"{budget.monthly_tokens:,}"

    @admin.display(description="the default (AI_MONTHLY_TOKEN_BUDGET)")
    def default(self, budget: TokenBudget) -> str:
        default = usage.budget_of(None)
        return "no limit" if default is None else f"{default:,} tokens a month"

    @admin.display(description="used this month")
    def used_this_month(self, budget: TokenBudget) -> str | None:
        if budget.user_id is None:  # a budget being added
            return None
        month = usage.month_usage(user=budget.user)
        return f"{month.tokens:,} tokens, {usage.usd(month.cost_usd)}"


def _changes(suggestion: Suggestion, form: Any) -> dict[str, Any]:
    """Return the accept's body from the review form's fields (none sent: the proposal)."""
    if "refinedDescription" in form:  # a browser sends a textarea's lines ended by CRLF
        return {"refinedDescription": form["refinedDescription"].replace("\r\n", "\n")}
    if "storyPoints" in form:
        return {"storyPoints": form["storyPoints"].strip() or None}
    if "title-0" not in form:
        return {}
    ticked = set(form.getlist("create"))
    count = len((suggestion.result or {}).get("subtasks", []))
    return {
        "subtasks": [
            {
                "title": form.get(f"title-{n}", ""),
                "description": form.get(f"description-{n}", "").replace("\r\n", "\n"),
                "storyPoints": form.get(f"storyPoints-{n}", "").strip() or None,
            }
            for n in range(count)
            if str(n) in ticked
        ]
    }


def _errors(errors: Any, label: str = "") -> str:
    """DRF's errors in one line: "subtask 2 title: This field may not be blank."."""
    if isinstance(errors, dict):
        return " ".join(_errors(inner, _label(label, name)) for name, inner in errors.items())
    text = " ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
    return f"{label}: {text}" if label else text


def _label(outer: str, name: Any) -> str:
    if name == "non_field_errors":
        return outer
    if str(name).isdigit():  # an item of the subtasks' list
        return f"subtask {int(name) + 1}"
    return f"{outer} {name}".strip()
