"""Writes of issues."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import IntegerField, Max
from django.db.models.functions import Cast, Length, Substr

from issues.models import KEY_MAX_NUMBER, Issue

ISSUE_FIELDS = ("type", "title", "description", "priority", "story_points", "parent")


def issue_next_key(*, project: str = "ISSUE") -> str:
    """Return the next free key of a project: ISSUE-124 after ISSUE-123.

    Call it inside the transaction that stores the key, after _lock(project), so that two
    creates cannot take the same number.
    """
    prefix = f"{project}-"
    numbers = (
        Issue.objects.filter(key__startswith=prefix)
        # Keys stored before numbers were bounded may not fit an integer: they are skipped.
        .annotate(length=Length("key"))
        .filter(length__lte=len(prefix) + len(str(KEY_MAX_NUMBER)))
        .annotate(number=Cast(Substr("key", len(prefix) + 1), IntegerField()))
        .aggregate(highest=Max("number"))
    )
    number = (numbers["highest"] or 0) + 1
    if number > KEY_MAX_NUMBER:
        raise ValidationError({"key": f"Project {project} has no free keys left."})
    return f"{prefix}{number}"


@transaction.atomic
def issue_create(*, key: str = "", project: str = "ISSUE", title: str, **fields: object) -> Issue:
    """Store a new issue under `key`, or under the next free key of `project`."""
    if not key:
        _lock(f"issue-keys:{project}")
        key = issue_next_key(project=project)
    return issue_save(issue=Issue(key=key, title=title, **fields))


@transaction.atomic
def issue_update(*, issue: Issue, **fields: object) -> Issue:
    """Change an issue's fields; its key never changes (other issues and suggestions use it)."""
    for name, value in fields.items():
        if name not in ISSUE_FIELDS:
            raise ValueError(f"{name} is not an editable issue field")
        setattr(issue, name, value)
    return issue_save(issue=issue)


@transaction.atomic
def issue_save(*, issue: Issue) -> Issue:
    """Check and store an issue as it is (admin's forms set its fields themselves)."""
    if issue._state.adding:
        _lock(f"issue-keys:{issue.project}")  # as issue_next_key() needs
    if issue.parent_id is not None:
        # Two parent changes at once could each see no cycle and together make one: they take
        # turns, and the check reads the ancestors afresh (Issue.clean).
        _lock("issue-parents")
    issue.full_clean()
    try:
        with transaction.atomic():
            issue.save()
    except IntegrityError:
        if Issue.objects.filter(key=issue.key).exclude(pk=issue.pk).exists():
            raise ValidationError({"key": "An issue with this key already exists."}) from None
        raise
    return issue


def _lock(name: str) -> None:
    """Make the writers of `name` take turns until the transaction ends.

    On PostgreSQL with an advisory lock; SQLite's transactions take its one write lock up front.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
