"""The tracker's issues."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinValueValidator, RegexValidator
from django.db import models

# A project's prefix, a dash and a number of at most nine digits: numbers stay far from any
# integer type's limit, so that the next key of a project can always be computed.
KEY_PATTERN = r"^[A-Z][A-Z0-9_]*-[1-9][0-9]{0,8}$"
KEY_INPUT_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]{0,8}$"  # as typed: stored in upper case
KEY_MAX_NUMBER = 999_999_999
MAX_DESCRIPTION = 50_000  # characters; what a prompt reads of it has its own budget


class Issue(models.Model):
    class Type(models.TextChoices):
        STORY = "STORY", "Story"
        EPIC = "EPIC", "Epic"
        TASK = "TASK", "Task"
        BUG = "BUG", "Bug"
        SUBTASK = "SUBTASK", "Sub-task"

    class Priority(models.TextChoices):
        LOWEST = "LOWEST", "Lowest"
        LOW = "LOW", "Low"
        MEDIUM = "MEDIUM", "Medium"
        HIGH = "HIGH", "High"
        HIGHEST = "HIGHEST", "Highest"

    key = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(KEY_PATTERN, "A key looks like ISSUE-123.")],
    )
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.STORY)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(MAX_DESCRIPTION)])
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    story_points = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0)]
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # A project's points by key alone (ai_assist/estimating.point_counts), without reading
        # the rows: at 100,000 issues 217 ms without it.
        indexes = [models.Index(fields=["key", "story_points"], name="issues_issue_key_points")]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"

    def clean(self) -> None:
        if self.pk is not None and self.pk in parent_chain(self.parent_id):
            raise ValidationError({"parent": "An issue cannot be its own ancestor."})

    @property
    def project(self) -> str:
        return self.key.rsplit("-", 1)[0]


def parent_chain(issue_id: int | None) -> list[int]:
    """Return the ids of an issue and of its ancestors, read afresh from the database.

    Stops at a repeated id, so that a cycle already stored cannot make it loop.
    """
    chain: list[int] = []
    while issue_id is not None and issue_id not in chain:
        chain.append(issue_id)
        issue_id = Issue.objects.filter(pk=issue_id).values_list("parent_id", flat=True).first()
    return chain
