"""The web pages: the issue list, one issue, and the issue forms.

Other apps add to the issue page from their side: its template has blocks for them (ai_assist
fills the AI panel and the past suggestions).
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from issues import selectors, services
from issues.forms import IssueForm
from issues.models import Issue
from issues.similar import similar_to

PAGE_SIZE = 50
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
    context = {
        "issue": issue,
        "children": issue.children.order_by("id"),
        "similar": similar_to(issue=issue, limit=SIMILAR_SIZE),  # likely duplicates, past work
    }
    return render(request, "issues/issue_detail.html", context)


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
