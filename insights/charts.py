"""Charts drawn on the server as SVG: readable without JavaScript, each with a title, a
description and its data as a table (for screen readers, and for anyone who wants figures)."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48  # room for the axes' labels


@dataclass
class Chart:
    """A chart: its SVG and the table that holds the same figures."""

    id: str
    title: str
    description: str
    svg: SafeString
    headers: list[str]
    rows: list[list[str]]
    legend: list[tuple[int, str]] = field(default_factory=list)  # (series index, name)

    @property
    def legend_html(self) -> SafeString:
        """The series' names beside their line and marker, as list items."""
        return format_html_join(
            "",
            '<li><svg viewBox="0 0 32 14" width="32" height="14" aria-hidden="true">'
            '<line class="chart__line chart__s{}" x1="0" y1="7" x2="32" y2="7"/>{}</svg>{}</li>',
            ((index, _marker(index, 16, 7, name), name) for index, name in self.legend),
        )


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]  # (x, y); y None: no value there


def _compact(label: str) -> str:
    """Shorten an axis's figure so that it fits beside the axis: 400,000 is 400k."""
    for zeros, suffix in ((",000,000", "M"), (",000", "k")):
        if label.endswith(zeros):
            return label[: -len(zeros)] + suffix
    return label


def _ticks(top: float, count: int = 4) -> list[float]:
    """Round steps from 0 to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


class _Plot:
    """Map data to the SVG's area, and draw its frame: grid lines and labelled axes."""

    def __init__(self, x_range: tuple[float, float], y_top: float, y_label: Callable) -> None:
        self.x0, self.x1 = x_range
        self.y_ticks = _ticks(y_top)
        self.y_top = self.y_ticks[-1]
        self.y_label = y_label
        self.parts: list[SafeString] = []

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1
        return round(LEFT + (value - self.x0) / span * (WIDTH - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        return round(HEIGHT - BOTTOM - value / self.y_top * (HEIGHT - TOP - BOTTOM), 1)

    def frame(self, x_ticks: Sequence[tuple[float, str]], x_title: str, y_title: str) -> None:
        for tick in self.y_ticks:
            y = self.y(tick)
            self.parts.append(
                format_html(
                    '<line class="chart__grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                    '<text class="chart__tick" x="{}" y="{}" text-anchor="end">{}</text>',
                    LEFT,
                    WIDTH - RIGHT,
                    y,
                    y,
                    LEFT - 6,
                    y + 4,
                    _compact(self.y_label(tick)),
                )
            )
        for value, label in x_ticks:
            self.parts.append(
                format_html(
                    '<text class="chart__tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    self.x(value),
                    HEIGHT - BOTTOM + 16,
                    label,
                )
            )
        self.parts.append(
            format_html(
                '<line class="chart__axis" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="chart__label" x="{}" y="{}" text-anchor="middle">{}</text>'
                '<text class="chart__label" x="14" y="{}" text-anchor="middle"'
                ' transform="rotate(-90 14 {})">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM,
                (LEFT + WIDTH - RIGHT) / 2,
                HEIGHT - 8,
                x_title,
                (TOP + HEIGHT - BOTTOM) / 2,
                (TOP + HEIGHT - BOTTOM) / 2,
                y_title,
            )
        )

    def svg(self, chart_id: str, title: str, description: str) -> SafeString:
        return format_html(
            '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title"'
            ' aria-describedby="{}-desc"'
            ' xmlns="http://www.w3.org/2000/svg"><title id="{}-title">{}</title>'
            '<desc id="{}-desc">{}</desc>{}</svg>',
            WIDTH,
            HEIGHT,
            chart_id,
            chart_id,
            chart_id,
            title,
            chart_id,
            description,
            mark_safe("".join(self.parts)),  # noqa: S308 (each part built by format_html)
        )


def _marker(index: int, x: float, y: float, tip: str) -> SafeString:
    """A point of series `index`: a circle, square, triangle or diamond, with its figures."""
    x, y = round(x, 1), round(y, 1)
    shapes = (
        f"M{x - 4:g} {y:g}a4 4 0 1 0 8 0a4 4 0 1 0 -8 0",
        f"M{x - 4:g} {y - 4:g}h8v8h-8z",
        f"M{x:g} {y - 5:g}l5 9h-10z",
        f"M{x:g} {y - 5:g}l5 5l-5 5l-5-5z",
    )
    return format_html(
        '<path class="chart__marker chart__s{}" d="{}"><title>{}</title></path>',
        index,
        shapes[index % len(shapes)],
        tip,
    )


def line_chart(
    *,
    id: str,
    title: str,
    description: str,
    series: Sequence[Series],
    x_ticks: Sequence[tuple[float, str]],
    x_range: tuple[float, float],
    x_title: str,
    y_title: str,
    y_top: float,
    y_label: Callable[[float], str],
    x_label: Callable[[float], str],
    diagonal: bool = False,
) -> Chart:
    """Lines with a marker at each point (shapes and dashes differ per series, not only
    colours); a gap where a value is missing. `diagonal`: the line y = x (a perfect score)."""
    plot = _Plot(x_range, y_top, y_label)
    plot.frame(x_ticks, x_title, y_title)
    if diagonal:
        plot.parts.append(
            format_html(
                '<line class="chart__ideal" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                plot.x(x_range[0]),
                plot.y(x_range[0]),
                plot.x(x_range[1]),
                plot.y(x_range[1]),
            )
        )
    for index, line in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in line.points:
            if y is None:
                runs.append([])
            else:
                runs[-1].append((plot.x(x), plot.y(y)))
        for run in runs:
            if len(run) > 1:
                plot.parts.append(
                    format_html(
                        '<polyline class="chart__line chart__s{}" points="{}"/>',
                        index,
                        " ".join(f"{x},{y}" for x, y in run),
                    )
                )
        for x, y in line.points:
            if y is not None:
                tip = f"{line.name}: {x_label(x)}, {y_label(y)}"
                plot.parts.append(_marker(index, plot.x(x), plot.y(y), tip))
    xs = sorted({x for line in series for x, _ in line.points})
    rows = [
        [x_label(x)]
        + [
            next((y_label(y) for px, y in line.points if px == x and y is not None), "none")
            for line in series
        ]
        for x in xs
    ]
    return Chart(
        id=id,
        title=title,
        description=description,
        svg=plot.svg(id, title, description),
        headers=[x_title, *[line.name for line in series]],
        rows=rows,
        legend=list(enumerate(line.name for line in series)),
    )


def bar_chart(
    *,
    id: str,
    title: str,
    description: str,
    bars: Sequence[tuple[str, float]],
    x_title: str,
    y_title: str,
    y_label: Callable[[float], str],
    label_every: int = 1,
    extra: Sequence[tuple[str, Sequence[str]]] = (),
) -> Chart:
    """Vertical bars, one per (label, value); `extra`: more columns for the table only."""
    top = max((value for _, value in bars), default=0)
    plot = _Plot((0, max(len(bars), 1)), top, y_label)
    plot.frame(
        [(i + 0.5, label) for i, (label, _) in enumerate(bars) if i % label_every == 0],
        x_title,
        y_title,
    )
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    width = max(1.0, round(slot * 0.7, 1))
    for i, (label, value) in enumerate(bars):
        y = plot.y(value)
        plot.parts.append(
            format_html(
                '<rect class="chart__bar" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}: {}</title></rect>",
                round(plot.x(i + 0.5) - width / 2, 1),
                y,
                width,
                round(HEIGHT - BOTTOM - y, 1),
                label,
                y_label(value),
            )
        )
    headers = [x_title, y_title, *[name for name, _ in extra]]
    rows = [
        [label, y_label(value), *[column[i] for _, column in extra]]
        for i, (label, value) in enumerate(bars)
    ]
    return Chart(
        id=id,
        title=title,
        description=description,
        svg=plot.svg(id, title, description),
        headers=headers,
        rows=rows,
    )
