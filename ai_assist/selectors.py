"""Reads for the AI assistant: an issue's context, and suggestions as their users may see them."""

from functools import cache
from typing import Any

from django.db.models import Q, QuerySet

from ai_assist.models import Suggestion
from config.sql import column, table
from issues.models import Issue
from issues.similar import similar_issues

# What of an issue a prompt reads at most (characters; children by number): with titles of at
# most 255 characters, a context stays under about 40,000 characters, or 10,000 tokens.
BUDGET = {"description": 20_000, "parent": 2_000, "children": 50}


def issue_get(*, key: str) -> Issue | None:
    """Return the issue stored under `key`, or None.

    Raw SQL: every AI call starts here, and the ORM would spend ten times the query's own time
    compiling it (0.4 ms against 0.05 ms). Its parent, if any, is read when the context is.
    """
    return next(iter(Issue.objects.raw(_issue_by_key_sql(), [key])), None)


@cache
def _issue_by_key_sql() -> str:
    """The query, with the model's own names (built once, on first use)."""
    return f"SELECT * FROM {table(Issue)} WHERE {column(Issue, 'key')} = %s"  # noqa: S608


def issue_context(*, issue: Issue | None, key: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Describe an issue as the prompt sees it: its fields, its parent epic and its children.

    The request's own fields (type, description, priority) override the stored ones.
    """
    context: dict[str, Any] = {
        "key": key,
        "type": Issue.Type.STORY,
        "title": "",
        "description": "",
        "priority": Issue.Priority.MEDIUM,
        "storyPoints": None,
        "parent": None,
        "children": [],
    }
    if issue is not None:
        context |= {
            "type": issue.type,
            "title": issue.title,
            "description": cut(issue.description, BUDGET["description"]),
            "priority": issue.priority,
            "storyPoints": issue.story_points,
        }
        if parent := issue.parent:
            context["parent"] = {
                "key": parent.key,
                "type": parent.type,
                "title": parent.title,
                "description": cut(parent.description, BUDGET["parent"]),
            }
        context["children"] = [
            {
                "key": child.key,
                "type": child.type,
                "title": child.title,
                "storyPoints": child.story_points,
            }
            for child in issue.children.order_by("id")[: BUDGET["children"]]
        ]
    context |= {name: value for name, value in overrides.items() if value is not None}
    return context


PRECEDENTS = 3  # past breakdowns a breakdown may follow


def breakdown_precedents(*, issue: Issue | None, context: dict[str, Any]) -> dict[str, Any]:
    """Return the project's past issues most like this one that were broken down, with their
    children (title and points), as `similarIssues` for a breakdown's context: how the team
    split such work before.
    """
    similar = similar_issues(
        project=context["key"].rsplit("-", 1)[0],
        title=context["title"],
        description=context["description"],
        exclude=issue.pk if issue is not None else None,
    )
    if not similar:  # nothing to look up: the children's query costs more than the search
        return {"similarIssues": []}
    children: dict[str, list[dict[str, Any]]] = {}
    rows = Issue.objects.filter(parent__key__in=[item.key for item in similar]).order_by("id")
    for key, title, points in rows.values_list("parent__key", "title", "story_points"):
        children.setdefault(key, []).append({"title": title, "storyPoints": points})
    precedents = [
        item.as_dict() | {"children": children[item.key][: BUDGET["children"]]}
        for item in similar
        if item.key in children
    ]
    return {"similarIssues": precedents[:PRECEDENTS]}


def cut(text: str, most: int) -> str:
    """Return `text`, or its first `most` characters and a marker saying how much is left out."""
    if len(text) <= most:
        return text
    return f"{text[:most]}\n\n[… {len(text) - most:,} more characters left out]"


def suggestion_list(*, user: Any, filters: dict[str, str] | None = None) -> QuerySet[Suggestion]:
    """Return the suggestions a user may see (staff: all), newest first, filtered.

    `filters` are validated values by their API names: issue, kind, status, reviewStatus.
    """
    suggestions = Suggestion.objects.select_related("issue", "user", "reviewed_by")
    if not user.is_staff:
        suggestions = suggestions.filter(user=user)
    filters = filters or {}
    if key := filters.get("issue"):
        # By the issue stored under the key, or by the key while no issue is stored under it.
        suggestions = suggestions.filter(Q(issue__key=key) | Q(issue__isnull=True, issue_key=key))
    lookups = {
        "kind": "kind",
        "status": "status",
        "reviewStatus": "review_status",
    }
    for name, field in lookups.items():
        if value := filters.get(name):
            suggestions = suggestions.filter(**{field: value})
    return suggestions


def suggestion_get(*, user: Any, pk: int) -> Suggestion | None:
    """Return one suggestion if the user may see it (their own; staff: any), else None."""
    return suggestion_list(user=user).filter(pk=pk).first()
