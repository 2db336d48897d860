"""Server-rendered charts: valid PNGs whose labels and values stay inside the picture."""

from __future__ import annotations

import io

import pytest
from matplotlib.image import imread

from quiz import charts

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
