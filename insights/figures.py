"""The insights page's charts, drawn from ai_assist.metrics' report."""

from datetime import date

from ai_assist import usage
from ai_assist.metrics import Report
from insights.charts import Chart, Series, bar_chart, line_chart

KIND_NAMES = {"refine": "Refine", "estimate": "Estimate", "breakdown": "Breakdown"}
CHANGE_UNITS = {"refine": "of the words", "estimate": "points", "breakdown": "of the subtasks"}


def percent(value: float | None) -> str:
    return "none" if value is None else f"{value:.0%}"


def tokens(value: float) -> str:
    return f"{value:,.0f}"


def every(count: int, labels: int = 8) -> int:
    """Label every n-th bar so that about `labels` labels fit."""
    return max(1, -(-count // labels))


def acceptance_over_time(report: Report) -> Chart:
    weeks = sorted({a.week for a in report.weeks if a.week})
    index = {week: i for i, week in enumerate(weeks)}
    names = sorted({(a.kind, a.model) for a in report.weeks})
    series = [
        Series(
            f"{KIND_NAMES[kind]}, {model}",
            [(index[a.week], a.rate) for a in report.weeks if (a.kind, a.model) == (kind, model)],
        )
        for kind, model in names
    ]

    def week(i: float) -> str:
        return _day(weeks[int(i)]) if weeks else ""

    step = every(len(weeks), 6)
    return line_chart(
        id="acceptance",
        title="Acceptance rate per week, by kind and model",
        description=(
            "The share of reviewed suggestions that were accepted (against rejected or "
            "reverted), per week of their making, one line per kind and model."
        ),
        series=series,
        x_ticks=[(i, week(i)) for i in range(len(weeks)) if i % step == 0],
        x_range=(-0.5, max(len(weeks) - 0.5, 0.5)),
        x_title="week of",
        y_title="accepted",
        y_top=1,
        y_label=percent,
        x_label=week,
    )


def reliability(report: Report) -> Chart:
    pooled = report.calibration[0]
    series = [
        Series("before calibration", [(b.confidence, b.acceptance) for b in pooled.bins_before]),
        Series(
            "after calibration (cross-validated)",
            [(b.confidence, b.acceptance) for b in pooled.bins_after],
        ),
    ]
    return line_chart(
        id="reliability",
        title="Reliability: confidence against acceptance",
        description=(
            f"For {pooled.reviews} reviewed suggestions in ten bins of confidence, the mean "
            "confidence against the share accepted; the diagonal is a perfect calibration. "
            f"Expected calibration error: {_error(pooled.before)} before calibration, "
            f"{_error(pooled.after)} after."
        ),
        series=series,
        x_ticks=[(t / 10, f"{t / 10:.0%}") for t in range(0, 11, 2)],
        x_range=(0, 1),
        x_title="confidence",
        y_title="accepted",
        y_top=1,
        y_label=percent,
        x_label=percent,
        diagonal=True,
    )


def edits(report: Report) -> Chart:
    return bar_chart(
        id="edits",
        title="Accepted suggestions that reviewers edited first",
        description=(
            "Per kind, the share of accepted suggestions whose reviewer changed them before "
            "accepting; the table also gives how much they changed."
        ),
        bars=[(KIND_NAMES[e.kind], e.share or 0) for e in report.edits],
        x_title="kind",
        y_title="edited",
        y_label=percent,
        extra=[
            ("accepted", [str(e.accepted) for e in report.edits]),
            ("edited", [str(e.edited) for e in report.edits]),
            ("mean change when edited", [_change(e.kind, e.change) for e in report.edits]),
        ],
    )


def estimate_errors(report: Report) -> Chart:
    e = report.estimates
    return bar_chart(
        id="estimate-error",
        title="Estimate error: points applied minus points suggested",
        description=(
            f"Of {e.count} accepted estimates, how many were applied with each difference from "
            f"the suggested points; mean absolute error {_points(e.mean_absolute)}, bias "
            f"{_points(e.bias, '+')}."
        ),
        bars=[(f"{d:+d}" if d else "0", n) for d, n in e.differences.items()],
        x_title="points applied minus suggested",
        y_title="estimates",
        y_label=tokens,
    )


def tokens_per_day(report: Report) -> Chart:
    days = report.per_day
    return bar_chart(
        id="tokens-per-day",
        title="Tokens per day",
        description=(
            f"The tokens of all AI calls per day (UTC) over the last {report.days} days: "
            f"{report.total.tokens:,} in all."
        ),
        bars=[(_day(date.fromisoformat(d.label)), d.tokens) for d in days],
        x_title="day",
        y_title="tokens",
        y_label=tokens,
        label_every=every(len(days)),
        extra=[
            ("calls", [str(d.calls) for d in days]),
            ("cost", [usage.usd(d.cost) for d in days]),
        ],
    )


def cost_per_day(report: Report) -> Chart:
    days = report.per_day
    return bar_chart(
        id="cost-per-day",
        title="Cost per day (USD)",
        description=(
            f"What the AI calls cost per day (UTC), from their tokens and the price table: "
            f"{usage.usd(report.total.cost)} in all."
        ),
        bars=[(_day(date.fromisoformat(d.label)), float(d.cost)) for d in days],
        x_title="day",
        y_title="cost",
        y_label=lambda value: usage.usd(value) if value else "$0",
        label_every=every(len(days)),
    )


def tokens_per_user(report: Report) -> Chart:
    users = report.per_user[:12]
    return bar_chart(
        id="tokens-per-user",
        title="Tokens per user",
        description=(
            "The tokens of each user's AI calls over the period, the most first (the twelve "
            "heaviest users; the table below lists all)."
        ),
        bars=[(u.label, u.tokens) for u in users],
        x_title="user",
        y_title="tokens",
        y_label=tokens,
    )


def charts(report: Report) -> dict[str, Chart]:
    return {
        "acceptance": acceptance_over_time(report),
        "reliability": reliability(report),
        "edits": edits(report),
        "estimate_errors": estimate_errors(report),
        "tokens_per_day": tokens_per_day(report),
        "cost_per_day": cost_per_day(report),
        "tokens_per_user": tokens_per_user(report),
    }


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def _error(value: float | None) -> str:
    return "not known (no reviews)" if value is None else f"{value:.3f}"


def _points(value: float | None, sign: str = "") -> str:
    return "none" if value is None else f"{value:{sign}.2f} points"


def _change(kind: str, change: float | None) -> str:
    if change is None:
        return "none"
    if kind == "estimate":
        return f"{change:.1f} {CHANGE_UNITS[kind]}"
    return f"{change:.0%} {CHANGE_UNITS[kind]}"
