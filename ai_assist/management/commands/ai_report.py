"""Print what the AI costs and how good it is: the insights page's figures, for a terminal."""

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ai_assist import metrics, usage


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# A figure: a number, an amount, a share or a difference, or "-" for none.
_FIGURE = re.compile(r"[-+$]?[\d.,]+%?|-")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """Columns aligned: figures to the right, text to the left."""
    cells = [headers, *[[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_FIGURE.fullmatch(row[i]) for row in cells[1:]) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join("  " + line for line in lines)


class Command(BaseCommand):
    help = "Print the AI's usage, cost and quality figures (those of the /insights/ page)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=30, help="the period: the last N days (default 30)"
        )

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        if days < 1:
            self.stderr.write("--days must be 1 or more.")
            raise SystemExit(2)
        report = metrics.report(days=days)
        out = self.stdout.write
        out(f"AI report: {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC")
        for title, body in self.sections(report):
            out(f"\n{title}\n{body}")

    def sections(self, report: metrics.Report) -> list[tuple[str, str]]:
        total = report.total
        unpriced = ""
        if total.unpriced:
            calls = "1 call" if total.unpriced == 1 else f"{total.unpriced:,} calls"
            unpriced = f" (and {calls} of models with no known price)"
        spend_headers = ["calls", "tokens", "cost"]
        return [
            (
                "Usage",
                f"  {total.calls:,} calls, {total.tokens:,} tokens, {usage.usd(total.cost)}"
                f"{unpriced}",
            ),
            (
                "Per user",
                table(
                    ["user", *spend_headers, "monthly budget"],
                    [
                        [
                            s.label,
                            s.calls,
                            s.tokens,
                            usage.usd(s.cost),
                            "none" if s.budget is None else s.budget,
                        ]
                        for s in report.per_user
                    ],
                )
                if report.per_user
                else "  No calls.",
            ),
            (
                "Per day (days with calls)",
                table(
                    ["day", *spend_headers],
                    [
                        [s.label, s.calls, s.tokens, usage.usd(s.cost)]
                        for s in report.per_day
                        if s.calls
                    ],
                )
                if report.total.calls
                else "  No calls.",
            ),
            (
                "Acceptance (accepted of reviewed: accepted, rejected or reverted)",
                self.acceptance(report),
            ),
            ("Edits before accepting", self.edits(report)),
            ("Estimate error (story points applied minus suggested)", self.estimates(report)),
            ("Calibration (expected calibration error over 10 bins)", self.calibration(report)),
        ]

    def acceptance(self, report: metrics.Report) -> str:
        if not report.acceptance:
            return "  No reviewed suggestions."
        headers = ["kind", "model", "reviewed", "accepted", "rejected", "reverted", "rate"]
        overall = table(
            headers,
            [
                [a.kind, a.model, a.reviewed, a.accepted, a.rejected, a.reverted, percent(a.rate)]
                for a in report.acceptance
            ],
        )
        weekly = table(
            ["week of", "kind", "model", "reviewed", "rate"],
            [
                [f"{a.week:%Y-%m-%d}", a.kind, a.model, a.reviewed, percent(a.rate)]
                for a in report.weeks
            ],
        )
        return f"{overall}\n\n  Per week:\n{weekly}"

    def edits(self, report: metrics.Report) -> str:
        if not report.edits:
            return "  No accepted suggestions."
        units = {"refine": "of the words", "estimate": "points", "breakdown": "of the subtasks"}
        return table(
            ["kind", "accepted", "edited", "share edited", "mean change when edited"],
            [
                [
                    e.kind,
                    e.accepted,
                    e.edited,
                    percent(e.share),
                    "-"
                    if e.change is None
                    else (
                        f"{e.change:.1f} {units[e.kind]}"
                        if e.kind == "estimate"
                        else f"{e.change:.0%} {units[e.kind]}"
                    ),
                ]
                for e in report.edits
            ],
        )

    def estimates(self, report: metrics.Report) -> str:
        e = report.estimates
        if not e.count:
            return "  No accepted estimates."
        spread = ", ".join(f"{d:+d}: {n}" for d, n in e.differences.items())
        return (
            f"  {e.count} accepted estimates; mean absolute error {number(e.mean_absolute)} "
            f"points, bias {number(e.bias)} points, applied as suggested {percent(e.exact)}\n"
            f"  differences: {spread}"
        )

    def calibration(self, report: metrics.Report) -> str:
        if not report.calibration or not report.calibration[0].reviews:
            return "  No reviewed suggestions."
        errors = table(
            ["kind", "reviews", "before", "after (cross-validated)", "calibrated now"],
            [
                [
                    c.kind,
                    c.reviews,
                    number(c.before, 3),
                    number(c.after, 3),
                    "yes" if c.fitted else "no",
                ]
                for c in report.calibration
            ],
        )
        pooled = report.calibration[0]
        after = {b.low: b for b in pooled.bins_after}
        before = {b.low: b for b in pooled.bins_before}
        bins = table(
            ["confidence", "before: n", "mean", "accepted", "after: n", "mean", "accepted"],
            [
                [
                    f"{low:.0%}-{low + 0.1:.0%}",
                    *(
                        [b.count, percent(b.confidence), percent(b.acceptance)]
                        if (b := before.get(low))
                        else [0, "-", "-"]
                    ),
                    *(
                        [b.count, percent(b.confidence), percent(b.acceptance)]
                        if (b := after.get(low))
                        else [0, "-", "-"]
                    ),
                ]
                for low in sorted(before.keys() | after.keys())
            ],
        )
        return f"{errors}\n\n  Reliability, all kinds:\n{bins}"
