"""The web pages: the issue list, one issue with its AI operations, and the issue forms."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from ai_assist import selectors as ai_selectors
from ai_assist.models import Suggestion
from ai_assist.review import review_details
from issues import selectors, services
from issues.forms import IssueForm
from issues.models import Issue
from issues.similar import similar_to

PAGE_SIZE = 50
HISTORY_SIZE = 20
SIMILAR_SIZE = 10


@login_required
def issue_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("search", "").strip()
    type = request.GET.get("type", "").upper()
    if type not in Issue.Type.values:
        type = ""
    issues = selectors.issue_list(search=search, type=type)
    page = Paginator(issues, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "search": search, "type": type, "types": Issue.Type.choices}
    return render(request, "issues/issue_list.html", context)


@login_required
def issue_detail(request: HttpRequest, key: str) -> HttpResponse:
    issue = get_object_or_404(Issue.objects.select_related("parent"), key=key.upper())
    suggestions = ai_selectors.suggestion_list(user=request.user, filters={"issue": issue.key})
    context = {
        "issue": issue,
        "children": issue.children.order_by("id"),
        # Each with what its review shows (completed ones only).
        "suggestions": [
            (suggestion, _review(suggestion, issue))
            for suggestion in suggestions.select_related("reviewed_by", "reverted_by")[
                :HISTORY_SIZE
            ]
        ],
        "similar": similar_to(issue=issue, limit=SIMILAR_SIZE),  # likely duplicates, past work
    }
    return render(request, "issues/issue_detail.html", context)


def _review(suggestion: Suggestion, issue: Issue) -> dict[str, Any] | None:
    if suggestion.status != Suggestion.Status.COMPLETED:
        return None
    return review_details(suggestion, issue)


@login_required
def suggestion_review(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    """One suggestion's review, as the issue page shows it under the AI panel (a fragment)."""
    suggestion = ai_selectors.suggestion_get(user=request.user, pk=pk)
    issue = get_object_or_404(Issue, key=key.upper())
    if suggestion is None or suggestion.issue_key != issue.key:
        raise Http404
    context = {"suggestion": suggestion, "review": _review(suggestion, issue), "prefix": "live"}
    return render(request, "issues/suggestion_review.html", context)


@login_required
def issue_create(request: HttpRequest) -> HttpResponse:
    form = IssueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        issue = _save(form, services.issue_create, **form.cleaned_data)
        if issue is not None:
            messages.success(request, f"Created {issue.key}.")
            return redirect("pages:issue-detail", key=issue.key)
    return render(request, "issues/issue_form.html", {"form": form})


@login_required
def issue_edit(request: HttpRequest, key: str) -> HttpResponse:
    issue = get_object_or_404(Issue, key=key.upper())
    form = IssueForm(request.POST or None, instance=issue)
    if (
        request.method == "POST"
        and form.is_valid()
        and _save(form, services.issue_update, issue=issue, **form.cleaned_data)
    ):
        messages.success(request, f"Saved {issue.key}.")
        return redirect("pages:issue-detail", key=issue.key)
    return render(request, "issues/issue_form.html", {"form": form, "issue": issue})


def _save(form: IssueForm, save: Callable[..., Issue], **fields: Any) -> Issue | None:
    """Call a service; put what it refuses on the form, as the form's own errors would be."""
    try:
        return save(**fields)
    except ValidationError as error:
        form.add_error(None, error)
        return None
