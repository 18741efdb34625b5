"""Reads of issues."""

from django.db.models import Q, QuerySet

from issues.models import Issue


def issue_list(*, search: str = "", type: str = "") -> QuerySet[Issue]:
    issues = Issue.objects.select_related("parent")
    if search:
        issues = issues.filter(
            Q(key__icontains=search) | Q(title__icontains=search) | Q(description__icontains=search)
        )
    if type:
        issues = issues.filter(type=type.upper())
    return issues


def issue_get(*, key: str) -> Issue | None:
    return Issue.objects.select_related("parent").filter(key=key).first()
