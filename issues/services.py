"""Writes of issues."""

from django.db import transaction
from django.db.models import IntegerField, Max
from django.db.models.functions import Cast, Substr

from issues.models import Issue

ISSUE_FIELDS = ("key", "type", "title", "description", "priority", "story_points", "parent")


def issue_next_key(*, project: str = "ISSUE") -> str:
    """Return the next free key of a project: ISSUE-124 after ISSUE-123."""
    prefix = f"{project}-"
    numbers = (
        Issue.objects.filter(key__startswith=prefix)
        .annotate(number=Cast(Substr("key", len(prefix) + 1), IntegerField()))
        .aggregate(highest=Max("number"))
    )
    return f"{prefix}{(numbers['highest'] or 0) + 1}"


@transaction.atomic
def issue_create(*, key: str = "", title: str, **fields: object) -> Issue:
    issue = Issue(key=key or issue_next_key(), title=title, **fields)
    issue.full_clean()
    issue.save()
    return issue


@transaction.atomic
def issue_update(*, issue: Issue, **fields: object) -> Issue:
    for name, value in fields.items():
        if name not in ISSUE_FIELDS:
            raise ValueError(f"{name} is not an editable issue field")
        setattr(issue, name, value)
    issue.full_clean()
    issue.save()
    return issue
