"""Confidence calibrated on review outcomes, so that "80%" means about 80% are accepted.

The raw confidence (parsing.answer_parse) blends what the model says of itself with checks of
its answer; nothing ties it to what reviewers do. Once a kind of suggestion has MIN_REVIEWS
reviewed suggestions (accepted, against rejected or reverted), an isotonic regression of
outcome on raw confidence maps the one to the other: the pool-adjacent-violators algorithm,
the fit that scikit-learn's IsotonicRegression makes, in plain Python (a few thousand points:
no need for numpy and scipy in every server process). A fit is per kind and model where that
pair has MIN_REVIEWS, else per kind over all models, else none (the raw figure is sent).

Each server process keeps its fits in memory and refits them at its heartbeat, in a thread of
its own, every AI_CALIBRATION_REFRESH seconds (ai_assist.workers): a call only looks one up.
"""

import bisect
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.models import F
from django.db.models.functions import Coalesce

from ai_assist.models import Suggestion
from ai_assist.usage import model_family

logger = logging.getLogger("ai_assist")

MIN_REVIEWS = 30
RECENT = 2_000  # the latest reviews of each kind a fit reads: bounded work, and it follows drift
BINS = 10  # equal-width bins of the reliability diagram and the calibration error
REVIEWED = (
    Suggestion.ReviewStatus.ACCEPTED,
    Suggestion.ReviewStatus.REJECTED,
    Suggestion.ReviewStatus.REVERTED,
)


@dataclass(frozen=True)
class Review:
    """A reviewed suggestion as calibration sees it."""

    kind: str
    model: str  # its model family (usage.model_family)
    raw: float
    accepted: bool


@dataclass(frozen=True)
class Fit:
    """An isotonic fit: increasing values at increasing raw confidences, linear in between,
    flat beyond the ends (as scikit-learn's IsotonicRegression with out_of_bounds="clip")."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    reviews: int

    def __call__(self, raw: float) -> float:
        xs, ys = self.xs, self.ys
        if raw <= xs[0]:
            return ys[0]
        if raw >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, raw)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (raw - x0) / (x1 - x0)


def isotonic(points: Iterable[tuple[float, float]]) -> Fit:
    """Fit the increasing function nearest (least squares) to (raw, outcome) points."""
    # One weighted point per distinct raw value: ties are pooled first, as scikit-learn does.
    sums: dict[float, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for x, y in points:
        sums[x][0] += y
        sums[x][1] += 1
    xs = sorted(sums)
    # Pool adjacent violators: each block holds (sum of outcomes, weight, number of xs); a
    # block whose mean is not above the one before merges into it.
    blocks: list[list[float]] = []
    for x in xs:
        blocks.append([sums[x][0], sums[x][1], 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            total, weight, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight
            blocks[-1][2] += count
    ys = [total / weight for total, weight, count in blocks for _ in range(int(count))]
    return Fit(xs=tuple(xs), ys=tuple(ys), reviews=int(sum(w for _, w, _ in blocks)))


def fits_for(history: Sequence[Review]) -> dict[tuple[str, str | None], Fit]:
    """Fit every (kind, model) and every (kind, None: all models) with MIN_REVIEWS reviews."""
    groups: dict[tuple[str, str | None], list[tuple[float, float]]] = defaultdict(list)
    for review in history:
        point = (review.raw, float(review.accepted))
        groups[review.kind, review.model].append(point)
        groups[review.kind, None].append(point)
    return {key: isotonic(points) for key, points in groups.items() if len(points) >= MIN_REVIEWS}


def apply(fits: dict[tuple[str, str | None], Fit], *, kind: str, model: str, raw: float) -> float:
    """Return the confidence to send: calibrated by the most specific fit there is, or raw.

    The fit's figure is weighed against the raw one by the reviews behind it, n / (n + 30):
    half and half at 30 reviews, 91% the fit's at 300. Thirty reviews make a noisy step
    function (a step of five suggestions all accepted would say 100%); measured on histories
    of 30, this halves the error left on an already calibrated scorer and lowers it on skewed
    ones (docs/usage-and-insights.md).
    """
    fit = fits.get((kind, model_family(model))) or fits.get((kind, None))
    if fit is None:
        return raw
    weight = fit.reviews / (fit.reviews + MIN_REVIEWS)
    return round(weight * fit(raw) + (1 - weight) * raw, 2)


# This process's fits, replaced whole by refresh(): a call reads whichever dict is current.
_fits: dict[tuple[str, str | None], Fit] = {}
_fitted_at: float | None = None


def calibrated(*, kind: str, model: str, raw: float) -> float:
    """Return the confidence to send for a raw one, by this process's current fits."""
    return apply(_fits, kind=kind, model=model, raw=raw)


def reviews(*, kinds: Iterable[str] = Suggestion.Kind.values, recent: int = RECENT) -> list[Review]:
    """Return the latest reviewed suggestions of each kind, with their raw confidence.

    Suggestions made before the raw figure was stored apart sent it as their confidence.
    """
    found: list[Review] = []
    for kind in kinds:
        rows = (
            Suggestion.objects.filter(
                kind=kind, review_status__in=REVIEWED, status=Suggestion.Status.COMPLETED
            )
            .annotate(raw=Coalesce(F("raw_confidence"), F("confidence")))
            .filter(raw__isnull=False)
            .order_by("-reviewed_at", "-id")
            .values_list("model", "raw", "review_status")[:recent]
        )
        found += [
            Review(kind, model_family(model), raw, status == Suggestion.ReviewStatus.ACCEPTED)
            for model, raw, status in rows
        ]
    return found


def refresh() -> dict[tuple[str, str | None], Fit]:
    """Refit this process's calibration on the latest reviews; return the new fits."""
    global _fits, _fitted_at
    fits = fits_for(reviews())
    _fits, _fitted_at = fits, time.monotonic()
    logger.debug("confidence calibration refitted: %s", {key: f.reviews for key, f in fits.items()})
    return fits


def keep_fresh() -> None:
    """Refit when the fits are AI_CALIBRATION_REFRESH seconds old (or there are none yet).

    For the heartbeat, which calls it in a thread of its own: its database connection is
    closed after, so that it holds no connection (or pool slot) in between.
    """
    if _fitted_at is not None and time.monotonic() - _fitted_at < settings.AI_CALIBRATION_REFRESH:
        return
    try:
        refresh()
    finally:
        connections.close_all()


def calibration_error(pairs: Sequence[tuple[float, bool]], bins: int = BINS) -> float | None:
    """Return the expected calibration error of (confidence, accepted) pairs: the gap between
    confidence and acceptance in each of `bins` equal-width bins, weighted by the bin's share."""
    if not pairs:
        return None
    return sum(b.count * abs(b.confidence - b.acceptance) for b in reliability(pairs, bins)) / len(
        pairs
    )


@dataclass(frozen=True)
class Bin:
    """One bin of a reliability diagram."""

    low: float
    high: float
    count: int
    confidence: float  # the mean confidence in the bin
    acceptance: float  # the share accepted


def reliability(pairs: Sequence[tuple[float, bool]], bins: int = BINS) -> list[Bin]:
    """Return the non-empty bins of (confidence, accepted) pairs (1.0 falls in the last)."""
    grouped: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for confidence, accepted in pairs:
        grouped[min(int(confidence * bins), bins - 1)].append((confidence, accepted))
    return [
        Bin(
            low=index / bins,
            high=(index + 1) / bins,
            count=len(members),
            confidence=sum(c for c, _ in members) / len(members),
            acceptance=sum(a for _, a in members) / len(members),
        )
        for index, members in sorted(grouped.items())
    ]


def cross_validated(history: Sequence[Review], folds: int = 5) -> list[float]:
    """Return each review's confidence as the service would have sent it, had its fits been
    made on the other reviews (k-fold): an honest "after" for the reliability diagram."""
    calibrated: list[float] = [0.0] * len(history)
    for fold in range(folds):
        fits = fits_for([r for i, r in enumerate(history) if i % folds != fold])
        for i in range(fold, len(history), folds):
            review = history[i]
            calibrated[i] = apply(fits, kind=review.kind, model=review.model, raw=review.raw)
    return calibrated
