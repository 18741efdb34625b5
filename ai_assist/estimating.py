"""Story point estimates grounded in the team's history: its most similar past issues and the
points its issues carry, shared by the offline engine and the prompt.

The evidence is gathered once, when a suggestion starts, and stored in its context
(`estimate_evidence`); the offline engine estimates from it (`estimate`) and the prompt shows
it to the model, so the JSON endpoint, the stream and `evaluate_estimates` share one path.

The method: the median of a mixture of the team's own distribution of points and the nearest
past issues. The team's distribution weighs TEAM_WEIGHT in all; each neighbour at least
MIN_SIMILARITY similar weighs similarity ** SIMILARITY_POWER (1 for a twin, 0.03 at 0.3).
With no close neighbour it is the team's median, the baseline that is hard to beat; a few close
neighbours that agree move it to their points. The median, not the mean, because the error
that counts is absolute and the points are skewed. The constants were chosen on five of the
ten projects of a public data set and confirmed on the other five (docs/estimates.md).
"""

from dataclasses import dataclass
from typing import Any

from django.db import connection

from config.sql import column, table
from issues.models import Issue
from issues.similar import similar_issues

DEFAULT_SCALE = (1, 2, 3, 5, 8, 13, 21)
NEIGHBOURS = 5
MIN_SIMILARITY = 0.3
SIMILARITY_POWER = 3
TEAM_WEIGHT = 1.5
# The offline engine reads; it does not understand. Its confidence stays below a model's.
CONFIDENCE_FLOOR = 0.25
CONFIDENCE_CEILING = 0.6


@dataclass(frozen=True)
class Estimate:
    points: int
    confidence: float
    team_median: int
    leaned_on: list[dict[str, Any]]  # the neighbours that weighed in, most similar first


def point_counts(*, project: str) -> dict[int, int]:
    """Return how many of the project's issues carry each number of points."""
    points, key = column(Issue, "story_points"), column(Issue, "key")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {points}, COUNT(*) FROM {table(Issue)}"  # noqa: S608 (the model's names)
            f" WHERE {key} >= %s AND {key} < %s AND {points} IS NOT NULL GROUP BY {points}",
            [f"{project}-", f"{project}."],  # the project's keys (issues/similar.py)
        )
        return dict(cursor.fetchall())


def estimate_evidence(*, issue: Issue | None, context: dict[str, Any]) -> dict[str, Any]:
    """Return what an estimate of the issue in `context` rests on, to store in its context:
    `similarIssues` (up to NEIGHBOURS, with a short excerpt for the prompt), `scale` (the
    points the project's issues use; the default scale without history) and `pointCounts`
    ([points, issues] pairs). The issue's own points, if any, are not its history.
    """
    project = context["key"].rsplit("-", 1)[0]
    counts = point_counts(project=project)
    if issue is not None and issue.story_points is not None:
        counts[issue.story_points] = counts.get(issue.story_points, 1) - 1
    counts = {points: n for points, n in counts.items() if n > 0}
    if not counts:
        return {"similarIssues": [], "scale": list(DEFAULT_SCALE), "pointCounts": []}
    neighbours = similar_issues(
        project=project,
        title=context["title"],
        description=context["description"],
        exclude=issue.pk if issue is not None else None,
        limit=NEIGHBOURS,
        with_points=True,
    )
    return {
        "similarIssues": [
            neighbour.as_dict() | {"description": neighbour.excerpt} for neighbour in neighbours
        ],
        "scale": sorted(counts),
        "pointCounts": sorted(counts.items()),
    }


def evidence_shown(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the similar issues as the answer's metadata shows them (no excerpt)."""
    names = ("key", "title", "storyPoints", "similarity")
    return [{name: item[name] for name in names} for item in context.get("similarIssues") or []]


def snap(points: float, scale: list[int] | tuple[int, ...]) -> int:
    """Return the step of `scale` nearest to `points` (the smaller of two as near)."""
    return min(scale, key=lambda step: (abs(step - points), step))


def estimate(context: dict[str, Any]) -> Estimate | None:
    """Estimate from the evidence in `context`; None when the project has no history."""
    counts = dict(context.get("pointCounts") or [])
    if not counts:
        return None
    total = sum(counts.values())
    team = [(points, n / total) for points, n in counts.items()]
    close = [
        item
        for item in context.get("similarIssues") or []
        if item["similarity"] >= MIN_SIMILARITY and item["storyPoints"] is not None
    ]
    votes = [(item["storyPoints"], item["similarity"] ** SIMILARITY_POWER) for item in close]
    points = _weighted_median([(p, w * TEAM_WEIGHT) for p, w in team] + votes)
    return Estimate(
        points=points,
        confidence=_confidence(points, close),
        team_median=_weighted_median(team),
        leaned_on=close,
    )


def _weighted_median(pairs: list[tuple[int, float]]) -> int:
    pairs = sorted(pairs)
    half = sum(weight for _, weight in pairs) / 2
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= half:
            return value
    return pairs[-1][0]


def _confidence(points: int, close: list[dict[str, Any]]) -> float:
    """How far to trust an offline estimate: the share of the close neighbours that carry its
    points, times how similar they are; the team's median alone earns the floor."""
    if not close:
        return CONFIDENCE_FLOOR
    agreeing = [item["similarity"] for item in close if item["storyPoints"] == points]
    agreement = len(agreeing) / len(close)
    similarity = sum(agreeing) / len(agreeing) if agreeing else 0.0
    support = agreement * min(1.0, similarity / 0.8) * min(1.0, len(close) / 3)
    return round(CONFIDENCE_FLOOR + (CONFIDENCE_CEILING - CONFIDENCE_FLOOR) * support, 2)
