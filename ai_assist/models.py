"""AI suggestions, stored from the moment a call starts so that people can review them."""

from django.conf import settings
from django.db import models


class Suggestion(models.Model):
    class Kind(models.TextChoices):
        REFINE = "refine", "Refine description"
        ESTIMATE = "estimate", "Estimate story points"
        BREAKDOWN = "breakdown", "Break down into subtasks"

    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        REVERTED = "reverted", "Reverted"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The key is kept even when no issue is stored under it (the contract allows that).
    issue_key = models.CharField(max_length=32, db_index=True)
    issue = models.ForeignKey(
        "issues.Issue",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suggestions",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="suggestions",
    )
    request = models.JSONField(default=dict, help_text="The request body as validated.")
    context = models.JSONField(default=dict, help_text="The issue as the prompt saw it.")
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.STREAMING, db_index=True
    )
    text = models.TextField(blank=True, help_text="The answer meant for a person (markdown).")
    result = models.JSONField(null=True, blank=True, help_text="The parsed machine answer.")
    # Sent to the client: calibrated on review outcomes once there are enough of them
    # (ai_assist/calibration.py); the raw figure that parsing computed is kept beside it.
    confidence = models.FloatField(null=True, blank=True)
    raw_confidence = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    # From the tokens and the model's price (ai_assist/usage.py); null when the price is unknown.
    cost_usd = models.DecimalField(max_digits=16, decimal_places=10, null=True, blank=True)
    time_to_first_token_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    review_status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewed_suggestions",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # What accepting it applied (as the accept's body has it), and whether the reviewer edited
    # it first: review outcomes measure the AI.
    applied = models.JSONField(null=True, blank=True)
    edited = models.BooleanField(null=True, blank=True)
    # What undoing the acceptance needs (ai_assist/review.py): the value it replaced, or the
    # issues it created as they were then. Kept apart from `applied`, whose shape others read.
    undo = models.JSONField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reverted_suggestions",
    )
    reverted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The server process that runs it (Worker.id), and when its issue was last saved as the
    # context was read: an edit saved since is not silently overwritten by accepting it.
    worker = models.CharField(max_length=64, blank=True)
    issue_updated_at = models.DateTimeField(null=True, blank=True)
    # Following it (ai_assist/live.py): the Idempotency-Key its call came with and a digest of
    # what that call asked; until when a reader on another server process follows it (its own
    # process then writes its text as it grows), and whether one asked to stop it.
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_digest = models.CharField(max_length=64, blank=True)
    followed_until = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The limits count a user's recent calls and sum their tokens this month
            # (services.user_check_limits): with the tokens in the index, the sum reads no rows.
            models.Index(fields=["user", "created_at", "total_tokens"]),
            # Each process asks often which of its calls are followed from elsewhere.
            models.Index(
                fields=["worker", "followed_until"],
                condition=models.Q(followed_until__isnull=False),
                name="ai_suggestion_followed",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="ai_suggestion_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} of {self.issue_key} ({self.status})"


class Worker(models.Model):
    """A server process that runs AI calls, alive while it says so (ai_assist/workers.py)."""

    id = models.CharField(max_length=64, primary_key=True)
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField()
    # Three of its own heartbeats after it was last heard from: each process may beat at its
    # own pace, and the others judge it by it.
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.id


class TokenBudget(models.Model):
    """A user's own monthly token budget, in place of AI_MONTHLY_TOKEN_BUDGET.

    No row: the default applies. A row with no tokens: no limit for this user.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_budget"
    )
    monthly_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Tokens per calendar month (UTC) for this user's AI calls. Empty: no limit for this "
            "user. Delete this budget to go back to the default (AI_MONTHLY_TOKEN_BUDGET)."
        ),
    )

    class Meta:
        verbose_name = "monthly token budget"

    def __str__(self) -> str:
        tokens = "no limit" if self.monthly_tokens is None else f"{self.monthly_tokens:,} tokens"
        return f"{self.user}: {tokens} a month"
