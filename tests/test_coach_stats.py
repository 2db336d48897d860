"""Dashboard figures on a small hand-checked dataset, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from quiz.app_state import get_content
from quiz.coach import stats
from quiz.web.coach import dashboard as coach_view
from tests.coach_factories import (
    add_response,
    assert_rollups_equal_a_rebuild,
    create_test_coach,
    login,
)

STEPS = ["s1", "s2", "s3", "s4", "s5", "s6", "kontakt"]
DIMS = ["schmerzgrenze", "werte", "preise", "leadership", "distanz", "trennung", "kapazitaet"]


def _dataset(app: Flask) -> None:
    """Six takers; the expected numbers below are worked out by hand from these."""
    with app.app_context():
        add_response(  # 300 s, bottleneck preise, marketing confirmed, mail sent
            started="2026-03-02 10:00:00",
            finished="2026-03-02 10:05:00",
            scores={"preise": 20},
            campaign="herbst",
            email="a@example.com",
            marketing="confirmed",
            mail_status="sent",
        )
        add_response(  # 500 s, bottleneck schmerzgrenze, marketing not confirmed, mail failed
            started="2026-03-02 11:00:00",
            finished="2026-03-02 11:08:20",
            scores={d: 80 for d in DIMS} | {"schmerzgrenze": 35},
            campaign="herbst",
            email="b@example.com",
            marketing="granted",
            mail_status="failed",
        )
        add_response(  # 200 s, bottleneck werte, marketing withdrawn, mail queued
            started="2026-03-03 09:00:00",
            finished="2026-03-03 09:03:20",
            scores={d: 100 for d in DIMS} | {"werte": 90},
            email="c@example.com",
            marketing="withdrawn",
            mail_status="queued",
        )
        add_response(started="2026-03-02 12:00:00", steps=3, campaign="herbst")
        add_response(started="2026-03-03 13:00:00", steps=0)
        add_response(  # demo, old version, 1 day + 60 s, finished two days after the start
            started="2026-03-04 23:59:00",
            finished="2026-03-06 00:00:00",
            scores={d: 60 for d in DIMS} | {"kapazitaet": 10},
            version="2025.4",
            demo=True,
        )


def _figures(app: Flask, **filters: object) -> stats.Dashboard:
    with app.app_context():
        return stats.dashboard(stats.Filters(**filters), STEPS, DIMS)  # type: ignore[arg-type]


def test_all_takers(app: Flask) -> None:
    _dataset(app)
    figures = _figures(app)
    assert figures.starts == 6
    assert figures.completions == 4
    assert figures.completion_rate == pytest.approx(4 / 6)
    assert [step.count for step in figures.funnel] == [5, 5, 5, 4, 4, 4, 4]
    assert figures.funnel[0].share == pytest.approx(5 / 6)
    # Histogram buckets 200, 300, 500, 86400 (one each): the median falls in the 300-310 bucket
    # and is interpolated to its upper end.
    assert figures.median_seconds == pytest.approx(310)
    assert figures.average_seconds == pytest.approx((300 + 500 + 200 + 86460) / 4)
    by_dim = {d.dimension: d for d in figures.dimensions}
    assert by_dim["schmerzgrenze"].average == pytest.approx((50 + 35 + 100 + 60) / 4)
    assert by_dim["schmerzgrenze"].buckets == (0, 0, 0, 1, 0, 1, 1, 0, 0, 1)
    assert by_dim["werte"].buckets[9] == 1  # 90 and 100 share the top bucket
    assert by_dim["werte"].buckets == (0, 0, 0, 0, 0, 1, 1, 0, 1, 1)
    assert {d: s.bottleneck_count for d, s in by_dim.items()} == {
        "schmerzgrenze": 1,
        "werte": 1,
        "preise": 1,
        "leadership": 0,
        "distanz": 0,
        "trennung": 0,
        "kapazitaet": 1,
    }
    assert figures.marketing_confirmed == 1
    assert figures.marketing_share == pytest.approx(1 / 4)
    assert figures.email_states == {"queued": 1, "sending": 0, "sent": 1, "failed": 1}
    assert figures.timeline_unit == "day"
    assert figures.timeline == (
        (date(2026, 3, 2), 2),
        (date(2026, 3, 3), 1),
        (date(2026, 3, 4), 0),
        (date(2026, 3, 5), 0),
        (date(2026, 3, 6), 1),
    )


def test_campaign_and_demo_filters(app: Flask) -> None:
    _dataset(app)
    figures = _figures(app, campaign="herbst", demo="real")
    assert (figures.starts, figures.completions) == (3, 2)
    assert figures.completion_rate == pytest.approx(2 / 3)
    assert [step.count for step in figures.funnel] == [3, 3, 3, 2, 2, 2, 2]
    assert figures.median_seconds == pytest.approx(310)
    by_dim = {d.dimension: d for d in figures.dimensions}
    assert by_dim["preise"].average == pytest.approx((20 + 80) / 2)
    assert figures.marketing_share == pytest.approx(1 / 2)
    assert figures.email_states["sent"] == 1 and figures.email_states["failed"] == 1

    no_campaign = _figures(app, campaign=stats.NO_CAMPAIGN)
    assert (no_campaign.starts, no_campaign.completions) == (3, 2)
    demo = _figures(app, demo="demo")
    assert (demo.starts, demo.completions) == (1, 1)
    assert demo.median_seconds == pytest.approx(86400 + 0.5 * 86400)


def test_date_and_version_filters(app: Flask) -> None:
    _dataset(app)
    day = _figures(app, start=date(2026, 3, 3), end=date(2026, 3, 3))
    assert (day.starts, day.completions) == (2, 1)
    assert day.median_seconds == pytest.approx(205)
    assert day.email_states["queued"] == 1 and day.email_states["sent"] == 0
    assert day.timeline == ((date(2026, 3, 3), 1),)
    # Started on the 4th, finished on the 6th: a start on the 4th, a completion on the 6th.
    assert _figures(app, start=date(2026, 3, 4), end=date(2026, 3, 5)).starts == 1
    assert _figures(app, start=date(2026, 3, 4), end=date(2026, 3, 5)).completions == 0
    old = _figures(app, version="2025.4")
    assert (old.starts, old.completions) == (1, 1)
    empty = _figures(app, start=date(2030, 1, 1))
    assert (empty.starts, empty.completions, empty.completion_rate) == (0, 0, None)
    assert empty.median_seconds is None and empty.timeline == ()


def test_maintained_rollups_of_the_dataset_equal_a_rebuild(app: Flask) -> None:
    _dataset(app)
    assert_rollups_equal_a_rebuild(app)


def test_weekly_timeline_over_long_ranges(app: Flask) -> None:
    _dataset(app)
    figures = _figures(app, start=date(2026, 1, 1), end=date(2026, 6, 30))
    assert figures.timeline_unit == "week"
    weeks = dict(figures.timeline)
    assert weeks[date(2026, 3, 2)] == 4  # Monday 2 March: the whole week's completions
    assert sum(weeks.values()) == 4


def test_dashboard_page_shows_the_numbers_and_charts(app: Flask, client: FlaskClient) -> None:
    coach_view.clear_cache()
    _dataset(app)
    create_test_coach(app)
    login(client)
    page = client.get("/coach/?campaign=herbst&demo=real")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="kpi-starts">3<' in text
    assert 'id="kpi-completions">2<' in text
    assert 'id="kpi-rate">66,7 %<' in text
    assert 'id="kpi-median">5:10 min<' in text
    for name in coach_view.CHART_NAMES:
        assert f"/coach/chart/{name}.png?campaign=herbst&amp;demo=real" in text
        chart = client.get(f"/coach/chart/{name}.png?campaign=herbst&demo=real")
        assert chart.status_code == 200
        assert chart.data.startswith(b"\x89PNG")
    names = [d.name for d in get_content(app).dimensions]
    assert all(str(escape(name)) in text for name in names)


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def test_rollup_slices_cover_every_day_of_the_range_exactly_once() -> None:
    horizon = (date(2024, 1, 1), date(2027, 12, 31))
    rng = random.Random(5)
    edges = [None, date(2025, 1, 1), date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 1)]
    pairs = [(a, b) for a in edges for b in edges]
    for _ in range(300):
        a = date(2025, 1, 1) + timedelta(days=rng.randrange(500))
        pairs.append((a, a + timedelta(days=rng.randrange(120))))
    for start, end in pairs:
        counted: list[date] = []
        for period, since, before in stats.rollup_slices(start, end):
            lo, hi = since or horizon[0], (before - timedelta(days=1)) if before else horizon[1]
            days = sorted(_days(lo, hi)) if lo <= hi else []
            if period == "month":
                assert all(day.day == 1 for day in (since, before) if day is not None)
            counted += days
        assert len(counted) == len(set(counted)), (start, end)
        assert set(counted) == _days(start or horizon[0], end or horizon[1]), (start, end)


def test_ranges_across_month_edges_count_each_completion_once(app: Flask) -> None:
    with app.app_context():
        for day in ("2026-01-31", "2026-02-01", "2026-02-28", "2026-03-01", "2026-04-30"):
            add_response(
                started=f"{day} 09:00:00",
                finished=f"{day} 09:05:00",
                email=f"{day}@example.com",
                marketing="confirmed",
                mail_status="sent",
            )
    for start, end, expected in (
        (date(2026, 1, 31), date(2026, 3, 1), 4),  # partial, whole, partial month
        (date(2026, 2, 1), date(2026, 2, 28), 2),  # exactly one month
        (date(2026, 2, 2), date(2026, 4, 29), 2),
        (None, date(2026, 2, 27), 2),
        (date(2026, 3, 1), None, 2),
        (None, None, 5),
    ):
        figures = _figures(app, start=start, end=end)
        assert figures.completions == expected, (start, end)
        assert figures.starts == expected
        assert figures.marketing_confirmed == expected
        assert figures.email_states["sent"] == expected
        assert sum(count for _, count in figures.timeline) == expected
        assert sum(d.count for d in figures.dimensions) == 7 * expected
