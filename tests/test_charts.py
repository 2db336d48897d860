"""Server-rendered charts: valid PNGs whose labels and values stay inside the picture."""

from __future__ import annotations

import functools
import io
import itertools
from datetime import date, timedelta

import pytest
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.text import Text

from quiz import charts
from quiz.domain.content import load_content
from tests.conftest import REAL_CONTENT

LONG_LABELS = ["Kundenbeziehungen beenden", "Werte & Soft Skills", "Preise", "Zeit & Kapazität"]


@pytest.mark.parametrize(
    "values, xmax, value_format",
    [([100, 55.5, 0, 61], 100, "{:.1f}"), ([1_000_000, 930_000, 12, 600_000], None, "{:.0f}")],
)
def test_bar_chart_labels_and_values_fit_in_the_figure(
    values: list[float], xmax: float | None, value_format: str
) -> None:
    items = [
        charts.LabelledValue(label, value) for label, value in zip(LONG_LABELS, values, strict=True)
    ]
    figure = charts.hbar_chart(items, xmax=xmax, value_format=value_format)
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    texts = [*axes.get_yticklabels(), *axes.get_xticklabels(), *axes.texts]
    assert {text.get_text() for text in axes.texts} == {value_format.format(v) for v in values}
    bounds = figure.bbox
    for text in texts:
        if not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= bounds.width, text.get_text()
        assert box.y0 >= 0 and box.y1 <= bounds.height, text.get_text()
    # The labels do not overlap the bars' area either.
    widest_label = max(label.get_window_extent(renderer).x1 for label in axes.get_yticklabels())
    assert widest_label < axes.get_window_extent(renderer).x0


def test_bar_chart_png_is_a_picture_of_the_configured_size() -> None:
    items = [charts.LabelledValue(label, 10) for label in LONG_LABELS]
    png = charts.hbar_chart_png(items)
    pixels = imread(io.BytesIO(png), format="png")
    assert pixels.shape[1] == round(charts.COACH_WIDTH_IN * charts.COACH_DPI)


# --- every chart at the sizes it is shown at ---------------------------------------------------

# The result chart fills its card: the viewport less the page's and the card's padding
# (1rem + 1.25rem a side, static/css/site.css), so on a 320 px phone it is 248 CSS px wide.
CARD_INSET_CSS_PX = 2 * (16 + 20)
PHONE_WIDTHS = (320, 360, 390, 430)
MIN_TEXT_CSS_PX = 11.0
MIN_GAP_CSS_PX = 3.0
DIMENSIONS = [d.name for d in load_content(REAL_CONTENT).dimensions]
SCORE_SETS = [[28, 100, 55, 9, 72, 40, 88], [0, 100, 99, 1, 28, 95, 50], [100] * 7, [0] * 7]


def _shown_tick_labels(axis: Axis) -> list[Text]:
    """The tick labels inside the axis' range (matplotlib keeps but never draws the others)."""
    low, high = sorted(axis.get_view_interval())
    slack = (high - low) * 1e-9
    return [
        label
        for loc, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels(), strict=True)
        if low - slack <= loc <= high + slack
    ]


def _texts(figure: Figure) -> list[Text]:
    """Every piece of text the picture shows."""
    found: list[Text] = list(figure.texts)
    for axes in figure.axes:
        found += [*axes.texts, *_shown_tick_labels(axes.xaxis), *_shown_tick_labels(axes.yaxis)]
        found += [axes.xaxis.label, axes.yaxis.label, axes.title]
        if axes.get_legend() is not None:
            found += axes.get_legend().get_texts()
    for legend in figure.legends:
        found += legend.get_texts()
    return [text for text in found if text.get_visible() and text.get_text().strip()]


def _layout_problems(figure: Figure, min_gap_px: float = 1.0) -> list[str]:
    """Texts reaching out of the picture, or closer than `min_gap_px` to another text."""
    figure.draw_without_rendering()  # places legends and ticks exactly as saving the PNG does
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in _texts(figure)]
    problems = [
        f"{label!r} leaves the picture ({box.x0:.0f}..{box.x1:.0f} of {width:.0f} px wide, "
        f"{box.y0:.0f}..{box.y1:.0f} of {height:.0f} px high)"
        for label, box in boxes
        if box.x0 < 0 or box.y0 < 0 or box.x1 > width or box.y1 > height
    ]
    for (label_a, a), (label_b, b) in itertools.combinations(boxes, 2):
        apart = max(b.x0 - a.x1, a.x0 - b.x1, b.y0 - a.y1, a.y0 - b.y1)
        if apart < min_gap_px:
            problems.append(f"{label_a!r} and {label_b!r} are {apart:.1f} px apart")
    return problems


def _result_bars(scores: list[int], bottleneck: int) -> list[charts.Bar]:
    return [
        charts.Bar(name, score, band_position=min(score // 40, 2), highlight=i == bottleneck)
        for i, (name, score) in enumerate(zip(DIMENSIONS, scores, strict=True))
    ]


@pytest.mark.parametrize("scores", SCORE_SETS)
@pytest.mark.parametrize("bottleneck", range(len(DIMENSIONS)))
def test_result_chart_fits_every_phone_width(scores: list[int], bottleneck: int) -> None:
    figure = charts.score_chart(_result_bars(scores, bottleneck))
    texts = {text.get_text() for text in _texts(figure)}
    assert texts >= {*DIMENSIONS, *(str(score) for score in scores)}
    for viewport in PHONE_WIDTHS:
        scale = (viewport - CARD_INSET_CSS_PX) / figure.bbox.width  # CSS px per PNG px
        assert _layout_problems(figure, MIN_GAP_CSS_PX / scale) == [], viewport
        for text in _texts(figure):
            size_css_px = text.get_fontsize() * figure.dpi / 72 * scale
            assert size_css_px >= MIN_TEXT_CSS_PX, (viewport, text.get_text(), size_css_px)


def test_result_chart_shrinks_only_a_name_too_long_for_its_line() -> None:
    """The long bold name of the issue fits; a short set keeps the full size."""
    long = charts.score_chart(_result_bars([28] * 7, bottleneck=4))
    assert _layout_problems(long) == []
    short = charts.score_chart([charts.Bar("Preise", 28, 0, highlight=True)])
    sizes = {text.get_text(): text.get_fontsize() for text in _texts(short)}
    assert sizes == {"Preise": charts.LABEL_PT, "28": charts.VALUE_PT}
    assert _layout_problems(short) == []


FUNNEL = ["Gestartet", *(f"Schritt {n} beantwortet" for n in range(1, 8)), "Abgeschlossen"]


COACH_FIGURES = sorted(
    [
        "funnel",
        "scores",
        "scores-empty",
        "bottlenecks",
        "profile",
        *(f"timeline-{count}-{unit}" for count in (1, 7, 19, 61, 400) for unit in ("day", "week")),
    ]
)


@functools.cache
def _coach_figures() -> dict[str, Figure]:
    """Drawn on first use, not while the tests are collected (in every test worker)."""
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(400)]
    buckets = tuple(range(10, 0, -1))
    return {
        "funnel": charts.hbar_chart(
            [charts.LabelledValue(s, 1_000_000 - n) for n, s in enumerate(FUNNEL)]
        ),
        "scores": charts.distribution_chart([charts.Distribution(d, buckets) for d in DIMENSIONS]),
        "scores-empty": charts.distribution_chart(
            [charts.Distribution(d, (0,) * 10) for d in DIMENSIONS]
        ),
        "bottlenecks": charts.hbar_chart(
            [charts.LabelledValue(d, 10**n, n == 6) for n, d in enumerate(DIMENSIONS)]
        ),
        "profile": charts.hbar_chart(
            [charts.LabelledValue(d, 100.0 - n * 16.6) for n, d in enumerate(DIMENSIONS)],
            xmax=100,
            value_format="{:.1f}",
        ),
        **{
            f"timeline-{count}-{unit}": charts.column_chart(
                [
                    charts.LabelledValue(day.strftime(fmt), n % 9)
                    for n, day in enumerate(days[:count])
                ]
            )
            for count in (1, 7, 19, 61, 400)
            for unit, fmt in (("day", "%d.%m."), ("week", "%d.%m.%y"))
        },
    }


@pytest.mark.parametrize("name", COACH_FIGURES)
def test_coach_chart_fits_the_desktop(name: str) -> None:
    assert sorted(_coach_figures()) == COACH_FIGURES
    figure = _coach_figures()[name]
    assert figure.bbox.width == charts.COACH_WIDTH_IN * charts.COACH_DPI
    assert _layout_problems(figure, min_gap_px=2.0) == []


def test_distribution_legend_shows_every_bucket() -> None:
    figure = _coach_figures()["scores"]
    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == [f"{n}–{n + 9}" for n in range(0, 90, 10)] + ["90–100"]
    assert _layout_problems(figure) == []


def test_timeline_counts_whole_completions() -> None:
    figure = charts.column_chart([charts.LabelledValue(f"{n}.", n % 4) for n in range(40)])
    ticks = figure.axes[0].get_yticks()
    assert len(ticks) >= 3 and all(tick == int(tick) for tick in ticks)
