"""The result chart as SVG for the PDF report, written out directly (issue 21, item 10).

`charts.score_chart_svg` draws it with matplotlib: a figure, its axes and a SVG backend for every
PDF, a tenth of a render's CPU, and an SVG of clip paths, metadata and style rules that WeasyPrint
then cascades node by node. The chart is a few rectangles and texts on a fixed grid, so this
module writes the same drawing itself: the same size, the same rectangles at the same
coordinates, the same texts at the same anchors, sizes, weights and colours. Only what depends on
the font is asked of matplotlib, once per process for each text (a name, a score), never per PDF:
a text's width (do the names fit, does the score fit after its bar) and where matplotlib puts its
baseline. tests/test_charts_svg.py checks this drawing against matplotlib's for many charts.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from xml.sax.saxutils import escape

from quiz.charts import (
    BAND_COLOURS,
    CHART_DPI,
    CHART_WIDTH_IN,
    INK,
    LABEL_PT,
    MIN_LABEL_PT,
    VALUE_PAD_PX,
    VALUE_PT,
    Bar,
    agg_canvas,
    chart_height_in,
    new_figure,
)

SVG_DPI = 72  # matplotlib's SVG is in points
TRACK = "#eef1f4"
BAR_HEIGHT = 0.42
HIGHLIGHT_WIDTH_PT = 2.0
# The axes in figure fractions, and the data's limits, as charts.score_chart sets them.
AXES_LEFT, AXES_WIDTH, AXES_MARGIN_IN = 0.02, 0.96, 0.02
X_LIMITS = (0.0, 100.0)
Y_TOP = -0.95  # the axis runs down: the first bar at the top, room above it for its name
FONT_FAMILY = "'DejaVu Sans'"


def score_chart_svg(bars: Sequence[Bar]) -> bytes:
    """The chart of `charts.score_chart_svg`, drawn alike: horizontal bars of the scores on light
    tracks, each name above its bar, each score after its bar (inside it, in white, where it does
    not fit after it), the bottleneck's bar outlined and its name bold."""
    count = len(bars)
    height_in = chart_height_in(count)
    width_pt, height_pt = CHART_WIDTH_IN * SVG_DPI, height_in * SVG_DPI
    left = AXES_LEFT * width_pt
    right = (AXES_LEFT + AXES_WIDTH) * width_pt
    top = AXES_MARGIN_IN / height_in * height_pt  # the axes' top edge, from the top
    bottom = height_pt - top
    y_bottom = count - 0.5

    def x_of(value: float) -> float:
        return left + (value - X_LIMITS[0]) / (X_LIMITS[1] - X_LIMITS[0]) * (right - left)

    def y_of(value: float) -> float:
        return top + (value - Y_TOP) / (y_bottom - Y_TOP) * (bottom - top)

    # As charts.score_chart decides, in the pixels of its PNG (CHART_DPI).
    width_px = AXES_WIDTH * CHART_WIDTH_IN * CHART_DPI
    label_size = LABEL_PT
    widest = max((_width_px(bar.label, LABEL_PT, bar.highlight) for bar in bars), default=0.0)
    if widest > width_px - 2:
        label_size = max(MIN_LABEL_PT, LABEL_PT * (width_px - 2) / widest)
    pad = VALUE_PAD_PX * 100 / width_px

    tracks, fills, texts = [], [], []
    for position, bar in enumerate(bars):
        y0 = position - BAR_HEIGHT / 2
        y1 = y0 + BAR_HEIGHT
        tracks.append(_rect(x_of(0), x_of(100), y_of(y0), y_of(y1), f"fill: {TRACK}"))
        colour = BAND_COLOURS[min(bar.band_position, len(BAND_COLOURS) - 1)]
        style = f"fill: {colour}"
        if bar.highlight:
            style += f"; stroke: {INK}; stroke-width: {_num(HIGHLIGHT_WIDTH_PT)}"
            style += "; stroke-linejoin: miter"
        fills.append(_rect(x_of(0), x_of(bar.score), y_of(y0), y_of(y1), style))
        label_y = y_of(y0 - 0.1) + _baseline_pt(bar.label, label_size, bar.highlight, "bottom")
        texts.append(_text(bar.label, x_of(0), label_y, label_size, bar.highlight, "start", INK))
        value = f"{bar.score}"
        value_y = y_of(y0 + BAR_HEIGHT / 2) + _baseline_pt(value, VALUE_PT, True, "center")
        needed = (_width_px(value, VALUE_PT, True) + VALUE_PAD_PX) * 100 / width_px
        if bar.score + needed <= 100:
            texts.append(_text(value, x_of(bar.score + pad), value_y, VALUE_PT, True, "start", INK))
        else:
            x = x_of(bar.score - pad)
            texts.append(_text(value, x, value_y, VALUE_PT, True, "end", "#ffffff"))
    clip = (
        f'<clipPath id="axes"><rect x="{_num(left)}" y="{_num(top)}" '
        f'width="{_num(right - left)}" height="{_num(bottom - top)}"/></clipPath>'
    )
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width_pt)}pt" '
            f'height="{_num(height_pt)}pt" viewBox="0 0 {_num(width_pt)} {_num(height_pt)}">',
            f"<defs>{clip}</defs>",
            *tracks,
            *fills,
            *texts,
            "</svg>",
        ]
    ).encode()


def _num(value: float) -> str:
    """A number as matplotlib's SVG writes it (six decimals at most, no trailing zeros)."""
    return f"{value:f}".rstrip("0").rstrip(".")


def _rect(x0: float, x1: float, y0: float, y1: float, style: str) -> str:
    # Drawn in matplotlib's order of corners, so an outline starts and joins where its does.
    path = f"M {_num(x0)} {_num(y0)} L {_num(x1)} {_num(y0)} L {_num(x1)} {_num(y1)} "
    path += f"L {_num(x0)} {_num(y1)} z"
    return f'<path d="{path}" clip-path="url(#axes)" style="{style}"/>'


def _text(text: str, x: float, y: float, size: float, bold: bool, anchor: str, colour: str) -> str:
    weight = "font-weight: 700; " if bold else ""
    style = (
        f"{weight}font-size: {_num(size)}px; font-family: {FONT_FAMILY}; "
        f"text-anchor: {anchor}; fill: {colour}"
    )
    return f'<text style="{style}" x="{_num(x)}" y="{_num(y)}">{escape(text)}</text>'


@functools.lru_cache(maxsize=1024)
def _width_px(text: str, size: float, bold: bool) -> float:
    """The text's width in the PNG's pixels, as charts.score_chart measures it."""
    figure = new_figure(CHART_WIDTH_IN, 1, CHART_DPI)
    canvas = agg_canvas(figure)
    drawn = figure.text(0, 0, text, fontsize=size, fontweight="bold" if bold else "normal")
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]  # matplotlib leaves it unannotated
    return float(drawn.get_window_extent(renderer).width)


@functools.lru_cache(maxsize=1024)
def _baseline_pt(text: str, size: float, bold: bool, va: str) -> float:
    """How far below its anchor matplotlib's SVG puts the text's baseline, in points.

    Taken from matplotlib's own SVG of the text alone, so it is its layout to the digit; it
    depends only on the text, its font and its vertical alignment, not on where it stands.
    """
    from matplotlib import rc_context  # as quiz.charts: matplotlib only where a chart is drawn

    anchor_pt = 36.0  # half way down a figure one inch high
    figure = new_figure(CHART_WIDTH_IN, 1, CHART_DPI)
    weight = "bold" if bold else "normal"
    figure.text(0.5, 1 - anchor_pt / SVG_DPI, text, fontsize=size, va=va, fontweight=weight)
    buffer = io.BytesIO()
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg")
    found = re.search(rb'<text [^>]*\by="([-\d.]+)"', buffer.getvalue())
    assert found is not None, "matplotlib wrote the text as text"
    return float(found.group(1)) - anchor_pt
