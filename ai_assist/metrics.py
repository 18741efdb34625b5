"""What the AI costs and how good it is, as figures: the insights page and ai_report read them.

Quality comes from review outcomes: accepted, against rejected or reverted (pending ones say
nothing yet). What accepting applied (`applied`, in the accept body's shape) against what was
proposed measures the reviewers' edits and the estimates' error; an accepted suggestion with
no `applied` was applied as proposed.
"""

import difflib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from ai_assist import calibration, usage
from ai_assist.models import Suggestion, TokenBudget

Kind = Suggestion.Kind
Review = Suggestion.ReviewStatus


@dataclass(frozen=True)
class Acceptance:
    """Review outcomes of one kind and model (or of one week of them)."""

    kind: str
    model: str
    accepted: int
    rejected: int
    reverted: int
    week: date | None = None  # the Monday of its week, for the figures over time

    @property
    def reviewed(self) -> int:
        return self.accepted + self.rejected + self.reverted

    @property
    def rate(self) -> float | None:
        return self.accepted / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class Edits:
    """How much reviewers changed one kind of suggestion before accepting it."""

    kind: str
    accepted: int
    edited: int
    # Among the edited ones, the mean change: the share of words (refine) or subtasks
    # (breakdown) changed, or the points moved (estimate).
    change: float | None

    @property
    def share(self) -> float | None:
        return self.edited / self.accepted if self.accepted else None


@dataclass(frozen=True)
class EstimateErrors:
    """Accepted estimates: the points applied against the points suggested."""

    count: int
    mean_absolute: float | None
    bias: float | None  # mean of applied minus suggested: > 0, the AI estimates too low
    exact: float | None  # the share applied as suggested
    differences: dict[int, int]  # applied minus suggested: how many


@dataclass(frozen=True)
class Calibration:
    """Confidence against acceptance, for one kind (or "all"), before and after calibration."""

    kind: str
    reviews: int
    before: float | None  # expected calibration error of the raw confidence
    after: float | None  # ... of the calibrated one, cross-validated (calibration.py)
    bins_before: list[calibration.Bin]
    bins_after: list[calibration.Bin]
    fitted: bool  # whether the service calibrates this kind now (MIN_REVIEWS or more)


@dataclass(frozen=True)
class Spend:
    """Calls, tokens and cost of a day or a user."""

    label: str
    calls: int
    tokens: int
    cost: Decimal
    unpriced: int  # calls with tokens but no known price (not in `cost`)
    budget: int | None = None  # a user's monthly budget


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    days: int
    acceptance: list[Acceptance]
    weeks: list[Acceptance]
    edits: list[Edits]
    estimates: EstimateErrors
    calibration: list[Calibration]
    per_day: list[Spend]
    per_user: list[Spend]
    total: Spend


def report(*, days: int = 30, now: datetime | None = None) -> Report:
    """Return every figure over the suggestions made in the last `days` days."""
    until = now or timezone.now()
    since = until - timedelta(days=days)
    made = Suggestion.objects.filter(created_at__gte=since, created_at__lt=until)
    reviewed = list(
        made.filter(status=Suggestion.Status.COMPLETED, review_status__in=calibration.REVIEWED)
        .order_by("created_at", "id")
        .values(
            "kind",
            "model",
            "created_at",
            "review_status",
            "confidence",
            "raw_confidence",
            "result",
            "applied",
            "edited",
        )
    )
    per_day = _per_day(made, since=since, days=days)
    return Report(
        since=since,
        until=until,
        days=days,
        acceptance=_acceptance(reviewed, weekly=False),
        weeks=_acceptance(reviewed, weekly=True),
        edits=_edits(reviewed),
        estimates=_estimate_errors(reviewed),
        calibration=_calibration(reviewed),
        per_day=per_day,
        per_user=_per_user(made),
        total=Spend(
            "total",
            calls=sum(d.calls for d in per_day),
            tokens=sum(d.tokens for d in per_day),
            cost=sum((d.cost for d in per_day), Decimal(0)),
            unpriced=sum(d.unpriced for d in per_day),
        ),
    )


def _acceptance(reviewed: list[dict[str, Any]], *, weekly: bool) -> list[Acceptance]:
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for row in reviewed:
        week = None
        if weekly:
            day = row["created_at"].date()
            week = day - timedelta(days=day.weekday())
        counts[row["kind"], usage.model_family(row["model"]), week][row["review_status"]] += 1
    return [
        Acceptance(
            kind=kind,
            model=model,
            week=week,
            accepted=outcomes[Review.ACCEPTED],
            rejected=outcomes[Review.REJECTED],
            reverted=outcomes[Review.REVERTED],
        )
        for (kind, model, week), outcomes in sorted(
            counts.items(), key=lambda item: (item[0][2] or date.min, *item[0][:2])
        )
    ]


def proposal(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """Return what accepting a suggestion unedited applies, in the accept body's shape."""
    if kind == Kind.REFINE:
        return {"refinedDescription": result["refinedDescription"]}
    if kind == Kind.ESTIMATE:
        return {"storyPoints": result["storyPoints"]}
    return {
        "subtasks": [
            {key: task.get(key) for key in ("title", "description", "storyPoints")}
            for task in result["subtasks"]
        ]
    }


def _change(kind: str, proposed: dict[str, Any], applied: dict[str, Any]) -> float:
    """How far what was applied is from what was proposed, in the kind's own measure."""
    if kind == Kind.ESTIMATE:
        return abs((applied.get("storyPoints") or 0) - (proposed["storyPoints"] or 0))
    if kind == Kind.REFINE:
        before = proposed["refinedDescription"].split()
        after = str(applied.get("refinedDescription") or "").split()
    else:
        before = [(t["title"], t["storyPoints"]) for t in proposed["subtasks"]]
        after = [(t.get("title"), t.get("storyPoints")) for t in applied.get("subtasks") or []]
    return 1 - difflib.SequenceMatcher(None, before, after, autojunk=False).ratio()


def _edits(reviewed: list[dict[str, Any]]) -> list[Edits]:
    accepted: Counter = Counter()
    changes: dict[str, list[float]] = defaultdict(list)
    for row in reviewed:
        if row["review_status"] != Review.ACCEPTED or not row["result"]:
            continue
        kind = row["kind"]
        accepted[kind] += 1
        proposed = proposal(kind, row["result"])
        applied = row["applied"] or proposed  # none stored: applied as proposed
        edited = row["edited"] if row["edited"] is not None else applied != proposed
        if edited:
            changes[kind].append(_change(kind, proposed, applied))
    return [
        Edits(
            kind=kind,
            accepted=accepted[kind],
            edited=len(changes[kind]),
            change=sum(changes[kind]) / len(changes[kind]) if changes[kind] else None,
        )
        for kind in Kind.values
        if accepted[kind]
    ]


def _estimate_errors(reviewed: list[dict[str, Any]]) -> EstimateErrors:
    differences = []
    for row in reviewed:
        if row["kind"] == Kind.ESTIMATE and row["review_status"] == Review.ACCEPTED:
            suggested = (row["result"] or {}).get("storyPoints")
            applied = (row["applied"] or {}).get("storyPoints", suggested)
            if isinstance(suggested, int) and isinstance(applied, int):
                differences.append(applied - suggested)
    count = len(differences)
    return EstimateErrors(
        count=count,
        mean_absolute=sum(map(abs, differences)) / count if count else None,
        bias=sum(differences) / count if count else None,
        exact=differences.count(0) / count if count else None,
        differences=dict(sorted(Counter(differences).items())),
    )


def _calibration(reviewed: list[dict[str, Any]]) -> list[Calibration]:
    history = [
        calibration.Review(
            row["kind"],
            usage.model_family(row["model"]),
            raw,
            row["review_status"] == Review.ACCEPTED,
        )
        for row in reviewed
        if (
            raw := row["raw_confidence"] if row["raw_confidence"] is not None else row["confidence"]
        )
        is not None
    ]
    after = calibration.cross_validated(history)
    live = calibration.fits_for(calibration.reviews())  # what the service calibrates with now
    figures = []
    for kind in [None, *Kind.values]:
        chosen = [i for i, r in enumerate(history) if kind is None or r.kind == kind]
        if kind is not None and not chosen:
            continue
        raw_pairs = [(history[i].raw, history[i].accepted) for i in chosen]
        after_pairs = [(after[i], history[i].accepted) for i in chosen]
        figures.append(
            Calibration(
                kind=kind or "all",
                reviews=len(chosen),
                before=calibration.calibration_error(raw_pairs),
                after=calibration.calibration_error(after_pairs),
                bins_before=calibration.reliability(raw_pairs),
                bins_after=calibration.reliability(after_pairs),
                fitted=any(key[0] == kind for key in live) if kind else bool(live),
            )
        )
    return figures


def _spend(made: Any, group: Any) -> dict[Any, tuple[int, int, Decimal, int]]:
    """Calls, tokens, cost and unpriced calls of the suggestions `made`, per `group`."""
    rows = (
        made.order_by()
        .annotate(group=group)
        .values("group")
        .annotate(
            calls=Count("id"),
            tokens=Sum("total_tokens"),
            cost=Sum("cost_usd"),
            unpriced=Count("id", filter=Q(cost_usd__isnull=True, total_tokens__isnull=False)),
        )
    )
    return {
        row["group"]: (row["calls"], row["tokens"] or 0, row["cost"] or Decimal(0), row["unpriced"])
        for row in rows
    }


def _per_day(made: Any, *, since: datetime, days: int) -> list[Spend]:
    """Every day of the period, those without calls too."""
    found = _spend(made, TruncDate("created_at"))
    first = since.date()
    labels = [first + timedelta(days=n) for n in range(days + 1)]
    return [Spend(day.isoformat(), *found.get(day, (0, 0, Decimal(0), 0))) for day in labels]


def _per_user(made: Any) -> list[Spend]:
    """The users who made calls, the most tokens first, with their monthly budget."""
    found = _spend(made, F("user__username"))
    budgets = {
        b.user.username: b.monthly_tokens for b in TokenBudget.objects.select_related("user")
    }
    default = usage.budget_of(None)
    return [
        Spend(
            name or "(deleted user)",
            *figures,
            budget=budgets.get(name, default) if name else None,
        )
        for name, figures in sorted(found.items(), key=lambda item: (-item[1][1], item[0] or ""))
    ]
