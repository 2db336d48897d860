"""Charts as PNG bytes: plain data in, bytes out.

Built on `matplotlib.figure.Figure` with the Agg canvas, never pyplot: pyplot keeps global figures
alive in a long-running server and leaks memory. matplotlib is imported by the first chart a
process draws (`new_figure`), not with this module: every command and sender imports the app,
and most never draw (importing it costs about half a second of CPU). The web workers load it
when they start (`load_drawing_library`, from quiz.gunicorn_conf), so no taker waits for it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from quiz.domain.content import Dimension

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

# Colours with at least 4.5:1 contrast against white, one per band position (weak -> strong).
BAND_COLOURS = ("#b3261e", "#9a5b00", "#1e6b3a")
INK = "#1f2933"


def load_drawing_library() -> None:
    """Import matplotlib's figure and Agg canvas now rather than on the first chart."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


def new_figure(width_in: float, height_in: float, dpi: float, **options: Any) -> Figure:
    """A figure on an Agg canvas of its own (reach the canvas as `figure.canvas`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=dpi, **options)
    FigureCanvasAgg(figure)
    return figure


def agg_canvas(figure: Figure) -> FigureCanvasAgg:
    """The Agg canvas `new_figure` gave this figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # every figure here is drawn with Agg
    return canvas


@dataclass(frozen=True)
class Bar:
    """One dimension's score as the chart shows it."""

    label: str
    score: int
    band_position: int  # 0 = weakest band
    highlight: bool = False


def result_bars(
    dimensions: Sequence[Dimension],
    scores: Mapping[str, int],
    bands: Mapping[str, str],
    bottleneck: str | None,
) -> list[Bar]:
    """The bars of one stored result (page and email show the same chart), in content order."""
    bars = []
    for dimension in dimensions:
        if dimension.id not in scores:
            continue
        band_ids = [band.id for band in dimension.bands]
        position = band_ids.index(bands[dimension.id]) if bands.get(dimension.id) in band_ids else 0
        bars.append(
            Bar(
                label=dimension.name,
                score=scores[dimension.id],
                band_position=position,
                highlight=dimension.id == bottleneck,
            )
        )
    return bars


# Sized for a phone first: a narrow figure, large type, each label above its bar.
CHART_WIDTH_IN = 4.5
CHART_DPI = 150
ROW_HEIGHT_IN = 0.8
LABEL_PT = 16.0
# A longer dimension name gets a smaller size (all labels share it) down to this, never less.
MIN_LABEL_PT = 12.0
VALUE_PT = 16.0
VALUE_PAD_PX = 8.0


def chart_height_in(bar_count: int) -> float:
    """The chart's height for this many bars (templates use it for width/height attributes)."""
    return ROW_HEIGHT_IN * bar_count + 0.1


def score_chart_png(bars: Sequence[Bar]) -> bytes:
    """Horizontal bars of dimension scores (0-100), labels above the bars, bottleneck emphasised."""
    return _png(score_chart(bars))


def score_chart_svg(bars: Sequence[Bar]) -> bytes:
    """The same chart as SVG: vector shapes, and text kept as text. The PDF report draws it with
    `charts_svg.score_chart_svg`, written out directly and tested against this one."""
    return svg_of(score_chart(bars))


def svg_of(figure: Figure) -> bytes:
    """A figure as SVG for the PDF report."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    # fonttype "none": labels stay selectable text in the PDF; a fixed hash salt keeps ids stable.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "engpass-quiz"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def score_chart(bars: Sequence[Bar]) -> Figure:
    """The figure behind `score_chart_png`.

    Each name has the whole width above its bar and each score sits at the end of its bar (inside
    it, in white, where the bar is too long for it to fit after): a score at the far right of the
    name line ran into long names ("Emotionale Distanz & Selbstschutz" and its "28").
    """
    height = chart_height_in(len(bars))
    figure = new_figure(CHART_WIDTH_IN, height, CHART_DPI)
    canvas = agg_canvas(figure)
    axes = figure.add_axes((0.02, 0.02 / height, 0.96, 1 - 0.04 / height))
    colours = [BAND_COLOURS[min(bar.band_position, len(BAND_COLOURS) - 1)] for bar in bars]
    positions = list(range(len(bars)))
    # Light tracks show the full 0..100 range behind each bar.
    axes.barh(positions, [100] * len(bars), color="#eef1f4", height=0.42)
    rects = axes.barh(positions, [bar.score for bar in bars], color=colours, height=0.42)
    axes.set_ylim(len(bars) - 0.5, -0.95)
    axes.set_xlim(0, 100)
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]  # matplotlib leaves it unannotated
    width_px = axes.get_position().width * figure.bbox.width
    labels = []
    for rect, bar in zip(rects, bars, strict=True):
        if bar.highlight:
            rect.set_edgecolor(INK)
            rect.set_linewidth(2.0)
        labels.append(
            axes.text(
                0,
                rect.get_y() - 0.1,
                bar.label,
                va="bottom",
                ha="left",
                fontsize=LABEL_PT,
                fontweight="bold" if bar.highlight else "normal",
                color=INK,
            )
        )
        _score_text(axes, renderer, bar, position=rect.get_y() + rect.get_height() / 2)
    widest = max((label.get_window_extent(renderer).width for label in labels), default=0.0)
    if widest > width_px - 2:
        size = max(MIN_LABEL_PT, LABEL_PT * (width_px - 2) / widest)
        for label in labels:
            label.set_fontsize(size)
    axes.set_yticks([])
    axes.set_xticks([])
    for side in ("top", "right", "left", "bottom"):
        axes.spines[side].set_visible(False)
    return figure


def _score_text(axes: Axes, renderer: Any, bar: Bar, position: float) -> None:
    """The score at the end of its bar: after it in ink, or inside it in white if it fits only there."""
    text = axes.text(
        bar.score, position, f"{bar.score}", va="center", fontsize=VALUE_PT, fontweight="bold"
    )
    width_px = axes.get_position().width * axes.figure.bbox.width
    pad = VALUE_PAD_PX * 100 / width_px
    needed = (text.get_window_extent(renderer).width + VALUE_PAD_PX) * 100 / width_px
    if bar.score + needed <= 100:
        text.set(x=bar.score + pad, ha="left", color=INK)
    else:
        text.set(x=bar.score - pad, ha="right", color="#ffffff")


def png_of(figure: Figure) -> bytes:
    """A figure as PNG."""
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# --- coach dashboard charts -------------------------------------------------------------------

COACH_DPI = 100
COACH_WIDTH_IN = 7.0
COACH_ACCENT = "#0b5563"
# A sequential ramp (weak -> strong), readable for common colour-vision deficiencies.
BUCKET_COLOURS = (
    "#b3261e", "#c4452a", "#d26a3a", "#dc8f52", "#e3b26e",
    "#b9c48a", "#8daf86", "#5f987c", "#357f6c", "#1e6b3a",
)  # fmt: skip


@dataclass(frozen=True)
class LabelledValue:
    """One bar of a coach chart."""

    label: str
    value: float
    highlight: bool = False


@dataclass(frozen=True)
class Distribution:
    """A dimension's score distribution: counts per 10-point bucket (0-9 ... 90-100)."""

    label: str
    counts: tuple[int, ...]


def _coach_figure(height_in: float) -> Figure:
    return new_figure(COACH_WIDTH_IN, height_in, COACH_DPI)


def _tidy(axes: Axes, grid_axis: Literal["x", "y", "both"]) -> None:
    axes.grid(axis=grid_axis, color="#d9dee3", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def hbar_chart_png(
    items: Sequence[LabelledValue], *, xmax: float | None = None, value_format: str = "{:.0f}"
) -> bytes:
    """Horizontal bars with their values written next to them (funnel, frequencies, averages)."""
    return _png(hbar_chart(items, xmax=xmax, value_format=value_format))


def hbar_chart(
    items: Sequence[LabelledValue], *, xmax: float | None = None, value_format: str = "{:.0f}"
) -> Figure:
    """The figure behind `hbar_chart_png`."""
    figure = _coach_figure(0.42 * max(len(items), 1) + 0.8)
    axes = figure.add_subplot()
    positions = list(range(len(items)))
    values = [item.value for item in items]
    colours = [INK if item.highlight else COACH_ACCENT for item in items]
    axes.barh(positions, values, color=colours, height=0.6)
    limit = xmax if xmax is not None else max([*values, 1]) * 1.15
    for position, item in zip(positions, items, strict=True):
        axes.text(
            item.value + limit * 0.01,
            position,
            value_format.format(item.value),
            va="center",
            fontsize=9,
            color=INK,
        )
    axes.set_yticks(positions, labels=[item.label for item in items], fontsize=9, color=INK)
    axes.invert_yaxis()
    axes.set_xlim(0, limit)
    axes.tick_params(axis="x", labelsize=8, colors=INK)
    _tidy(axes, "x")
    _fit_to_labels(figure, axes)
    return figure


def _fit_to_labels(figure: Figure, axes: Axes, *, below_px: float = 0.0) -> None:
    """Margins that fit the labels on the left and below, and the values on the right.

    Measures only the tick labels (and the axis label), where `tight_layout()` would draw the
    whole figure once more (it doubled the time of these charts, the largest part of a cold
    dashboard). `below_px` keeps room under the axis for a legend.
    """
    canvas = agg_canvas(figure)
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]  # matplotlib leaves it unannotated
    dpi = figure.dpi
    width, height = figure.bbox.width, figure.bbox.height
    labels = axes.get_yticklabels()
    widest = max((label.get_window_extent(renderer).width for label in labels), default=0.0)
    # From the axes' bottom edge down to the lowest tick label (rotated or not) or axis label.
    xaxis = axes.xaxis.get_tightbbox(renderer)
    box = axes.get_position()
    depth = box.y0 * height - xaxis.y0 if xaxis is not None else 0.0
    below = depth + 0.08 * dpi + below_px
    # Rotated date labels end at their tick, so the first can reach left of the axes.
    overhang = box.x0 * width - xaxis.x0 + 0.08 * dpi if xaxis is not None else 0.0
    pad = 0.25 * dpi  # tick, gap to the label, and a margin
    figure.subplots_adjust(
        left=min(0.6, max(widest + pad, overhang) / width),
        right=1 - 0.55 * dpi / width,
        top=1 - 0.1 * dpi / height,
        bottom=min(0.6, below / height),
    )


def distribution_chart_png(rows: Sequence[Distribution]) -> bytes:
    """Per dimension a 100 % bar split into its score buckets, weak (red) to strong (green)."""
    return _png(distribution_chart(rows))


def distribution_chart(rows: Sequence[Distribution]) -> Figure:
    """The figure behind `distribution_chart_png`: its legend is one row under the chart."""
    figure = _coach_figure(0.45 * max(len(rows), 1) + 1.2)
    axes = figure.add_subplot()
    positions = list(range(len(rows)))
    left = [0.0] * len(rows)
    buckets = len(rows[0].counts) if rows else 0
    for bucket in range(buckets):
        shares = []
        for row in rows:
            total = sum(row.counts)
            shares.append(100 * row.counts[bucket] / total if total else 0.0)
        axes.barh(
            positions,
            shares,
            left=left,
            color=BUCKET_COLOURS[bucket % len(BUCKET_COLOURS)],
            height=0.6,
            label=f"{bucket * 10}–{bucket * 10 + 9 if bucket < buckets - 1 else 100}",
        )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axes.set_yticks(positions, labels=[row.label for row in rows], fontsize=9, color=INK)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("%", fontsize=8, color=INK)
    axes.tick_params(axis="x", labelsize=8, colors=INK)
    _tidy(axes, "x")
    if not buckets:
        _fit_to_labels(figure, axes)
        return figure
    # A figure legend in one row along the bottom edge, so it never leaves the picture (an
    # axes legend under the chart was cut off at the right edge after "80–8").
    legend = figure.legend(
        ncols=buckets,
        fontsize=8,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.02),
        frameon=False,
        handlelength=1.2,
        handletextpad=0.4,
        columnspacing=1.0,
        labelcolor=INK,
    )
    legend_height = legend.get_window_extent().height
    _fit_to_labels(figure, axes, below_px=legend_height + 0.02 * figure.bbox.height)
    return figure


def column_chart_png(items: Sequence[LabelledValue]) -> bytes:
    """Vertical bars over time (completions per day or week); labels thinned to stay legible."""
    return _png(column_chart(items))


def column_chart(items: Sequence[LabelledValue]) -> Figure:
    """The figure behind `column_chart_png`."""
    figure = _coach_figure(2.8)
    axes = figure.add_subplot()
    positions = list(range(len(items)))
    axes.bar(positions, [item.value for item in items], color=COACH_ACCENT, width=0.8)
    step = max(1, math.ceil(len(items) / 10))  # at most ten labels, so they never touch
    shown = positions[::step]
    axes.set_xticks(
        shown, labels=[items[i].label for i in shown], fontsize=8, rotation=30, ha="right"
    )
    axes.tick_params(axis="y", labelsize=8, colors=INK)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no "2.5 completions"
    axes.set_ylim(bottom=0)
    _tidy(axes, "y")
    _fit_to_labels(figure, axes)
    return figure
