"""The AI assistant on the issue page: its past suggestions and one suggestion's review.

The page itself is issues'; ai_assist/templates/issues/issue_detail.html fills its blocks.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from ai_assist import selectors
from ai_assist.models import Suggestion
from ai_assist.review import review_details
from issues.models import Issue

HISTORY_SIZE = 20


def issue_suggestions(*, user: Any, issue: Issue) -> list[tuple[Suggestion, dict | None]]:
    """The user's latest suggestions on the issue (staff: everyone's), each with its review."""
    suggestions = selectors.suggestion_list(user=user, filters={"issue": issue.key})
    suggestions = suggestions.select_related("reviewed_by", "reverted_by")[:HISTORY_SIZE]
    return [(suggestion, _review(suggestion, issue)) for suggestion in suggestions]


def _review(suggestion: Suggestion, issue: Issue) -> dict[str, Any] | None:
    """What the review shows: completed suggestions only."""
    if suggestion.status != Suggestion.Status.COMPLETED:
        return None
    return review_details(suggestion, issue)


@login_required
def suggestion_review(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    """One suggestion's review, as the issue page shows it under the AI panel (a fragment)."""
    suggestion = selectors.suggestion_get(user=request.user, pk=pk)
    issue = get_object_or_404(Issue, key=key.upper())
    if suggestion is None or suggestion.issue_key != issue.key:
        raise Http404
    context = {"suggestion": suggestion, "review": _review(suggestion, issue), "prefix": "live"}
    return render(request, "ai_assist/suggestion_review.html", context)
