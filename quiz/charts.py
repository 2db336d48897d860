"""Charts as PNG bytes: plain data in, bytes out.

Built on `matplotlib.figure.Figure` with the Agg canvas, never pyplot: pyplot keeps global figures
alive in a long-running server and leaks memory.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Colours with at least 4.5:1 contrast against white, one per band position (weak -> strong).
BAND_COLOURS = ("#b3261e", "#9a5b00", "#1e6b3a")
INK = "#1f2933"


@dataclass(frozen=True)
class Bar:
    """One dimension's score as the chart shows it."""

    label: str
    score: int
    band_position: int  # 0 = weakest band
    highlight: bool = False


CHART_WIDTH_IN = 8.0
CHART_DPI = 150


def chart_height_in(bar_count: int) -> float:
    """The chart's height for this many bars (templates use it for width/height attributes)."""
    return 0.55 * bar_count + 0.9


def score_chart_png(bars: Sequence[Bar]) -> bytes:
    """A horizontal bar chart of dimension scores (0-100), the bottleneck emphasised."""
    figure = Figure(figsize=(CHART_WIDTH_IN, chart_height_in(len(bars))), dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = [bar.label for bar in bars]
    scores = [bar.score for bar in bars]
    colours = [BAND_COLOURS[min(bar.band_position, len(BAND_COLOURS) - 1)] for bar in bars]
    positions = list(range(len(bars)))
    rects = axes.barh(positions, scores, color=colours, height=0.62)
    for rect, bar in zip(rects, bars, strict=True):
        if bar.highlight:
            rect.set_edgecolor(INK)
            rect.set_linewidth(2.0)
        axes.text(
            min(bar.score + 1.5, 92),
            rect.get_y() + rect.get_height() / 2,
            f"{bar.score}",
            va="center",
            ha="left",
            fontsize=10,
            fontweight="bold" if bar.highlight else "normal",
            color=INK,
        )
    axes.set_yticks(positions, labels=labels, fontsize=10, color=INK)
    for tick, bar in zip(axes.get_yticklabels(), bars, strict=True):
        if bar.highlight:
            tick.set_fontweight("bold")
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xticks([0, 25, 50, 75, 100])
    axes.tick_params(axis="x", labelsize=9, colors=INK)
    axes.grid(axis="x", color="#d9dee3", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
