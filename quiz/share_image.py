"""The 1200 × 630 px preview image that LinkedIn, WhatsApp and others show for a shared link.

Drawn with matplotlib on a `Figure` with the Agg canvas (never pyplot, which keeps figures alive in
a server), from the texts the caller passes in: the words live in a template, not here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from quiz.charts import BAND_COLOURS, INK, agg_canvas, new_figure

if TYPE_CHECKING:
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure
    from matplotlib.text import Text

WIDTH_PX, HEIGHT_PX = 1200, 630
DPI = 100
WASH = "#f4f1ec"
ACCENT = "#0b5563"
HIGHLIGHT = "#f2b84b"  # the favicon's bottleneck bar
MARGIN_PX = 72
TEXT_WIDTH_PX = 700  # the left part; the bar motif takes the right
# The motif: a few score bars, the shortest one marked as the bottleneck.
MOTIF = ((0.86, 2), (0.62, 1), (0.28, 0), (0.74, 2), (0.5, 1))


def share_image_png(brand: str, headline: Sequence[str], subline: str) -> bytes:
    """The preview image: the brand, the headline (one entry per line) and a subline."""
    buffer = io.BytesIO()
    share_image(brand, headline, subline).savefig(
        buffer, format="png", facecolor=WASH, metadata={"Software": None}
    )
    return buffer.getvalue()


def share_image(brand: str, headline: Sequence[str], subline: str) -> Figure:
    """The figure behind `share_image_png`."""
    from matplotlib.patches import FancyBboxPatch

    figure = new_figure(WIDTH_PX / DPI, HEIGHT_PX / DPI, DPI, facecolor=WASH)
    canvas = agg_canvas(figure)
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]  # matplotlib leaves it unannotated
    left = MARGIN_PX / WIDTH_PX
    top = 1 - MARGIN_PX / HEIGHT_PX
    figure.add_artist(
        FancyBboxPatch(
            (0, 0), 1, 0.025, boxstyle="square,pad=0", transform=figure.transFigure, color=ACCENT
        )
    )
    name = figure.text(left, top, brand, va="top", fontsize=30, fontweight="bold", color=ACCENT)
    _fit_width(name, renderer, TEXT_WIDTH_PX)
    title = figure.text(
        left,
        0.5,
        "\n".join(headline),
        va="center",
        fontsize=54,
        fontweight="bold",
        color=INK,
        linespacing=1.15,
    )
    _fit_width(title, renderer, TEXT_WIDTH_PX)
    sub = figure.text(left, MARGIN_PX / HEIGHT_PX + 0.02, subline, va="bottom", fontsize=28)
    sub.set_color(INK)
    _fit_width(sub, renderer, TEXT_WIDTH_PX)
    _motif(figure)
    return figure


def _fit_width(text: Text, renderer: RendererBase, width_px: float) -> None:
    """Shrink a text that would run past `width_px` (a long coach name, say) until it fits."""
    wide = text.get_window_extent(renderer).width
    if wide > width_px:
        text.set_fontsize(float(text.get_fontsize()) * width_px / wide)


def _motif(figure: Figure) -> None:
    """Rounded score bars on the right, in the chart's band colours."""
    from matplotlib.patches import FancyBboxPatch

    x0 = (MARGIN_PX + TEXT_WIDTH_PX + 60) / WIDTH_PX
    span = 1 - MARGIN_PX / WIDTH_PX - x0
    bar_height = 0.07
    gap = (0.62 - len(MOTIF) * bar_height) / (len(MOTIF) - 1)
    for row, (share, band) in enumerate(MOTIF):
        y = 0.19 + row * (bar_height + gap)
        figure.add_artist(
            FancyBboxPatch(
                (x0, y),
                span,
                bar_height,
                boxstyle="round,pad=0,rounding_size=0.02",
                transform=figure.transFigure,
                facecolor="#e3ded6",
                linewidth=0,
                mutation_aspect=WIDTH_PX / HEIGHT_PX,
            )
        )
        marked = band == 0
        figure.add_artist(
            FancyBboxPatch(
                (x0, y),
                span * share,
                bar_height,
                boxstyle="round,pad=0,rounding_size=0.02",
                transform=figure.transFigure,
                facecolor=HIGHLIGHT if marked else BAND_COLOURS[band],
                mutation_aspect=WIDTH_PX / HEIGHT_PX,
                linewidth=3 if marked else 0,
                edgecolor=INK,
            )
        )
