"""Review with edits and undo: what accepting a suggestion applies, and how to take it back.

`applied` has the shape of the accept's body ({"refinedDescription"}, {"storyPoints"} or
{"subtasks": [...]}); others read it to measure the AI. The `undo` record is ours: the value
that accepting replaced, or the issues it created as they were then, so that a revert can
tell whether anything it would undo was changed since.
"""

import difflib
import re
from typing import Any

from ai_assist.models import Suggestion
from issues.models import Issue
from issues.services import issue_create, issue_update

# The issue field each kind replaces, and its name in the API.
FIELDS = {
    Suggestion.Kind.REFINE: ("description", "refinedDescription"),
    Suggestion.Kind.ESTIMATE: ("story_points", "storyPoints"),
}
# What revert compares of a created issue: the model's field, and how the API names it.
SNAPSHOT = {
    "title": "title",
    "description": "description",
    "type": "type",
    "priority": "priority",
    "story_points": "story points",
}


def proposal(suggestion: Suggestion) -> dict[str, Any]:
    """Return what the AI proposed, in the shape of the accept's body."""
    result = suggestion.result or {}
    if suggestion.kind == Suggestion.Kind.BREAKDOWN:
        return {"subtasks": [_subtask(task) for task in result.get("subtasks", [])]}
    name = FIELDS[suggestion.kind][1]
    return {name: result.get(name)}


def _subtask(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": task["title"],
        "description": task.get("description", ""),
        "storyPoints": task.get("storyPoints"),
    }


def apply(*, kind: str, issue: Issue, applied: dict[str, Any]) -> tuple[list[Issue], dict]:
    """Apply `applied` to the issue; return the issues created and the record undo needs.

    Raise ValidationError when the issue's own rules refuse a value.
    """
    if kind == Suggestion.Kind.BREAKDOWN:
        created = [
            issue_create(
                project=issue.project,
                type=Issue.Type.SUBTASK,
                title=task["title"],
                description=task["description"],
                priority=issue.priority,
                story_points=task["storyPoints"],
                parent=issue,
            )
            for task in applied["subtasks"]
        ]
        record = {"issue": issue.pk, "key": issue.key, "created": [_snapshot(c) for c in created]}
        return created, record
    field, name = FIELDS[kind]
    before = getattr(issue, field)
    issue_update(issue=issue, **{field: applied[name]})
    record = {"issue": issue.pk, "key": issue.key, "field": field, "before": before}
    record["after"] = getattr(issue, field)
    return [], record


def _snapshot(issue: Issue) -> dict[str, Any]:
    return {
        "id": issue.pk,
        "key": issue.key,
        "parent": issue.parent_id,
        **{field: getattr(issue, field) for field in SNAPSHOT},
    }


def changes_since(record: dict[str, Any]) -> list[str]:
    """Lock what an acceptance touched; return what changed since, in words (none: [])."""
    if "created" in record:
        return _children_changed(record)
    issue = Issue.objects.select_for_update().filter(pk=record["issue"]).first()
    if issue is None:
        return [f"{record['key']} was deleted"]
    if getattr(issue, record["field"]) != record["after"]:
        return [f"{issue.key}'s {Issue._meta.get_field(record['field']).verbose_name} changed"]
    return []


def _children_changed(record: dict[str, Any]) -> list[str]:
    ids = [child["id"] for child in record["created"]]
    now = {issue.pk: issue for issue in Issue.objects.select_for_update().filter(pk__in=ids)}
    with_children = set(Issue.objects.filter(parent_id__in=ids).values_list("parent_id", flat=True))
    with_suggestions = set(
        Suggestion.objects.filter(
            issue_id__in=ids, review_status=Suggestion.ReviewStatus.ACCEPTED
        ).values_list("issue_id", flat=True)
    )
    changes = []
    for was in record["created"]:
        issue, key = now.get(was["id"]), was["key"]
        if issue is None:
            changes.append(f"{key} was deleted")
            continue
        fields = [words for field, words in SNAPSHOT.items() if getattr(issue, field) != was[field]]
        if fields:
            changes.append(f"{key}'s {_and(fields)} changed")
        if issue.parent_id != was["parent"]:
            changes.append(f"{key} was moved to another parent")
        if issue.pk in with_children:
            changes.append(f"{key} was given child issues")
        if issue.pk in with_suggestions:
            changes.append(f"a suggestion was applied to {key}")
    return changes


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def undo(record: dict[str, Any]) -> tuple[Issue | None, list[str]]:
    """Undo an acceptance whose record changes_since() found unchanged (rows locked).

    Return the issue as it is now (None if it is gone) and the keys of the issues deleted.
    """
    issue = Issue.objects.filter(pk=record["issue"]).first()
    if "created" in record:
        keys = [child["key"] for child in record["created"]]
        Issue.objects.filter(pk__in=[child["id"] for child in record["created"]]).delete()
        return issue, keys
    issue_update(issue=issue, **{record["field"]: record["before"]})
    return issue, []


# What a reviewer sees: the change as a word-level diff, the proposal to edit, the evidence.

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")  # spaces, words, each punctuation mark


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Return the change from `old` to `new` word by word: ("same" | "removed" | "added", text)
    pieces in order; joining the same and added pieces gives `new`."""
    before, after = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after).get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(before[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("removed", "".join(before[i1:i2])))
        if j2 > j1:
            pieces.append(("added", "".join(after[j1:j2])))
    return pieces


def review_details(suggestion: Suggestion, issue: Issue | None) -> dict[str, Any]:
    """Return what the page and admin show to review a completed suggestion of `issue`."""
    details: dict[str, Any] = {
        "pending": suggestion.review_status == Suggestion.ReviewStatus.PENDING,
        "can_undo": suggestion.review_status == Suggestion.ReviewStatus.ACCEPTED
        and suggestion.undo is not None,
    }
    result = suggestion.result or {}
    if suggestion.kind == Suggestion.Kind.REFINE:
        current = issue.description if issue else suggestion.context.get("description", "")
        details["proposal"] = result.get("refinedDescription", "")
        details["improvements"] = result.get("improvements", [])
        # Pending: the change it would make now. Reviewed: the change it made (the record undo
        # keeps) or, rejected, would have made; a past suggestion reads like a fresh one.
        record = suggestion.undo or {}
        if not details["pending"] and "before" in record:
            details["diff"] = word_diff(record["before"], record["after"])
        else:
            details["diff"] = word_diff(current, details["proposal"])
    elif suggestion.kind == Suggestion.Kind.ESTIMATE:
        details["points"] = result.get("storyPoints")
        details["current"] = issue.story_points if issue else None
        details["evidence"] = (suggestion.metadata or {}).get("similarIssues", [])
    else:
        subtasks = result.get("subtasks", [])
        keys = [task["duplicateOf"] for task in subtasks if task.get("duplicateOf")]
        titles = dict(Issue.objects.filter(key__in=keys).values_list("key", "title"))
        details["subtasks"] = [
            {
                **task,
                "duplicate": {"key": task["duplicateOf"], "title": titles[task["duplicateOf"]]}
                if task.get("duplicateOf") in titles  # deleted since: no longer a duplicate
                else None,
            }
            for task in subtasks
        ]
        # What accepting it created, with the reviewer's edits and only the ticked ones.
        details["created"] = (suggestion.applied or {}).get("subtasks") if suggestion.undo else None
        details["total"] = result.get("totalPoints", 0)
        details["complexity"] = result.get("complexity", "")
        details["selected_points"] = sum(
            task["storyPoints"] or 0 for task in details["subtasks"] if not task["duplicate"]
        )
    return details
