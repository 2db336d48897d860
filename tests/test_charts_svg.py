"""The PDF's chart written directly (quiz.charts_svg) is matplotlib's chart (quiz.charts): the same
size, rectangles, texts, anchors, sizes, weights and colours, for every number of bars, long and
short names, the scores where the number moves inside its bar, and every band."""

from __future__ import annotations

import random
import re

import pytest

from quiz import charts, charts_svg
from quiz.charts import Bar
from quiz.domain.content import load_content
from tests.conftest import REAL_CONTENT

NAMES = [dimension.name for dimension in load_content(REAL_CONTENT).dimensions]
# matplotlib names fallbacks after DejaVu Sans; the report embeds DejaVu Sans, so they never apply.
FALLBACKS = (
    ", 'Bitstream Vera Sans', 'Computer Modern Sans Serif', 'Lucida Grande', 'Verdana', "
    "'Geneva', 'Lucid', 'Arial', 'Helvetica', 'Avant Garde', sans-serif"
)
TOLERANCE = 2e-6  # both write six decimals; the last may round the other way


def _drawing(svg: bytes) -> tuple[tuple[str, ...], list[tuple[list[float], str]], list[tuple]]:
    """The size, the filled rectangles (not the white background) and the texts of a chart."""
    text = svg.decode()
    size = re.search(r'width="([\d.]+pt)" height="([\d.]+pt)" viewBox="([\d. ]+)"', text)
    assert size is not None
    paths = [
        ([float(n) for n in re.findall(r"[-\d.]+", d)], style)
        for d, style in re.findall(r'<path d="([^"]*)" clip-path="[^"]*" style="([^"]*)"', text)
    ]
    texts = [
        (style.replace(FALLBACKS, ""), float(x), float(y), body)
        for style, x, y, body in re.findall(
            r'<text style="([^"]*)" x="([^"]*)" y="([^"]*)"[^>]*>([^<]*)</text>', text
        )
    ]
    return size.groups(), paths, texts


def _cases() -> list[list[Bar]]:
    rng = random.Random(21)
    cases = [
        [Bar("Preise", 28, 0, highlight=True)],
        [Bar(name, 28, 0, highlight=i == 4) for i, name in enumerate(NAMES)],  # names shrink
        [
            Bar(name, score, 2)
            for name, score in zip(NAMES, [0, 1, 88, 89, 90, 99, 100], strict=False)
        ],
    ]
    for _ in range(30):
        count = rng.randint(1, len(NAMES))
        names = NAMES[:count] if rng.random() < 0.7 else rng.sample(NAMES, count)
        bottleneck = rng.randrange(count)
        cases.append(
            [
                Bar(
                    name,
                    rng.choice([0, 5, 50, 89, 91, 95, 100, rng.randint(0, 100)]),
                    rng.randint(0, 3),
                    highlight=i == bottleneck,
                )
                for i, name in enumerate(names)
            ]
        )
    return cases


@pytest.mark.parametrize("bars", _cases())
def test_the_written_chart_is_matplotlibs_chart(bars: list[Bar]) -> None:
    size, paths, texts = _drawing(charts_svg.score_chart_svg(bars))
    want_size, want_paths, want_texts = _drawing(charts.score_chart_svg(bars))
    assert size == want_size
    assert len(texts) == len(want_texts) == 2 * len(bars)
    for (style, x, y, body), (want_style, want_x, want_y, want_body) in zip(
        texts, want_texts, strict=True
    ):
        assert (style, body) == (want_style, want_body)
        assert x == pytest.approx(want_x, abs=TOLERANCE)
        assert y == pytest.approx(want_y, abs=TOLERANCE)
    assert len(paths) == len(want_paths) == 2 * len(bars)
    for (numbers, style), (want_numbers, want_style) in zip(paths, want_paths, strict=True):
        assert style == want_style
        assert numbers == pytest.approx(want_numbers, abs=TOLERANCE)


def test_the_written_chart_escapes_its_texts() -> None:
    svg = charts_svg.score_chart_svg([Bar("Werte & <Soft> Skills", 40, 1)]).decode()
    assert "Werte &amp; &lt;Soft&gt; Skills" in svg
