"""The before-and-after chart of a re-assessment (issue 24): per dimension the earlier score
and today's, in the style of the result chart (quiz.charts): a narrow figure for a phone, each
name above its bars, the scores at their ends. PNG for the page and the email, SVG for the PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from quiz.charts import (
    CHART_DPI,
    CHART_WIDTH_IN,
    INK,
    LABEL_PT,
    MIN_LABEL_PT,
    agg_canvas,
    new_figure,
    png_of,
    svg_of,
)
from quiz.domain.progress import DimensionChange

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Then in a grey, today in the brand's default teal; both 4.5:1 or more against white.
BEFORE_COLOUR = "#6b7785"
AFTER_COLOUR = "#0b5563"
ROW_HEIGHT_IN = 1.05
LEGEND_IN = 0.35
VALUE_PT = 13.0


def progress_chart_height_in(row_count: int) -> float:
    """The chart's height for this many dimensions (templates use it for width/height)."""
    return ROW_HEIGHT_IN * row_count + LEGEND_IN + 0.1


def progress_chart_png(rows: Sequence[DimensionChange]) -> bytes:
    """The chart as PNG."""
    return png_of(progress_chart(rows))


def progress_chart_svg(rows: Sequence[DimensionChange]) -> bytes:
    """The chart as SVG for the PDF, its text kept as text."""
    return svg_of(progress_chart(rows))


def progress_chart(rows: Sequence[DimensionChange]) -> Figure:
    """Two bars per dimension, then above today; the legend on top."""
    height = progress_chart_height_in(len(rows))
    figure = new_figure(CHART_WIDTH_IN, height, CHART_DPI)
    canvas = agg_canvas(figure)
    top = 1 - LEGEND_IN / height
    axes = figure.add_axes((0.02, 0.02 / height, 0.96, top - 0.04 / height))
    for x, colour, key in ((0.02, BEFORE_COLOUR, "■ vorher"), (0.35, AFTER_COLOUR, "■ heute")):
        figure.text(x, 1 - 0.05 / height, key, va="top", fontsize=VALUE_PT, color=colour)
    labels = []
    for index, row in enumerate(rows):
        base = index * 3
        for offset, score, colour in ((0, row.before, BEFORE_COLOUR), (1, row.after, AFTER_COLOUR)):
            axes.barh(base + offset, 100, color="#eef1f4", height=0.8)
            axes.barh(base + offset, score, color=colour, height=0.8)
            axes.text(
                score + 1.5, base + offset, f"{score}", va="center", fontsize=VALUE_PT, color=INK
            )
        labels.append(
            axes.text(
                0, base - 0.55, row.name, va="bottom", ha="left", fontsize=LABEL_PT, color=INK
            )
        )
    axes.set_ylim(len(rows) * 3 - 1.4, -1.9)
    axes.set_xlim(0, 112)
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]  # unannotated in matplotlib
    width_px = axes.get_position().width * figure.bbox.width
    widest = max((label.get_window_extent(renderer).width for label in labels), default=0.0)
    if widest > width_px - 2:
        size = max(MIN_LABEL_PT, LABEL_PT * (width_px - 2) / widest)
        for label in labels:
            label.set_fontsize(size)
    axes.set_axis_off()
    return figure
