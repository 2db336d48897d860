"""A/B tests: the coach's lifecycle, the random and sticky assignment, the texts shown (issue 25)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from scipy import stats
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.counters import funnel_read
from quiz.experiments import assign, lifecycle
from quiz.experiments.lifecycle import ExperimentError, VariantInput
from quiz.extensions import db
from quiz.models import ExperimentEvent, Response, ResponseVariant
from quiz.site import settings as site_settings
from quiz.taker import rights
from tests import quizflow
from tests.factories import finished_response
from tests.test_visits import browser

HEADLINES = ["Was bremst Ihr Business?", "Wo verlieren Sie Umsatz?", "Ihr Engpass in 5 Minuten"]
H1 = re.compile(r"<h1>(.*?)</h1>", re.S)


def _headline_test(app: Flask, texts: list[str] = HEADLINES) -> int:
    with app.app_context():
        experiment = lifecycle.create(
            "Überschrift",
            "landing_headline",
            "start",
            [VariantInput(chr(65 + i), text) for i, text in enumerate(texts)],
            "coach:c@example.com",
        )
        lifecycle.change(experiment, "started", "coach:c@example.com")
    return experiment


@pytest.mark.dialect_independent
def test_draws_split_evenly_and_keep_a_valid_choice() -> None:
    shown = tuple(assign.Shown(7, p, f"T{p}", None) for p in range(4))
    experiments = (assign.ActiveExperiment(7, "cta", True, shown),)
    counts = [0] * 4
    for _ in range(20_000):
        counts[assign.draw(experiments)[7]] += 1
    assert stats.chisquare(counts).pvalue > 1e-6, counts
    # The landing page's draw, carried by the start form, is kept; anything else drawn afresh.
    assert all(assign.draw(experiments, assign.decode("7:2"))[7] == 2 for _ in range(50))
    assert assign.decode("7:9,x:1,8:-1,12:1;9:0") == {7: 9}
    assert 0 <= assign.draw(experiments, {7: 9})[7] < 4
    paused = (assign.ActiveExperiment(7, "cta", False, shown),)
    assert assign.draw(paused) == {}


def test_visitors_split_evenly_and_keep_their_variant(app: Flask) -> None:
    experiment = _headline_test(app)
    seen = [0, 0, 0]
    for _ in range(900):
        page = browser(app).get("/")
        seen[HEADLINES.index(H1.search(page.text).group(1))] += 1
    with app.app_context():
        counts = funnel_read.experiment_counts(experiment)
    visits = [counts[p]["visit"] for p in range(3)]
    assert visits == seen
    assert stats.chisquare(visits).pvalue > 1e-6, visits
    # Sticky: whoever starts keeps the headline they started from, on every later view.
    for _ in range(60):
        client = browser(app)
        landing = client.get("/")
        first = H1.search(landing.text).group(1)
        fields = dict(quizflow.HIDDEN.findall(landing.text))
        client.post("/quiz/start", data={"csrf_token": quizflow.csrf_token(landing), **fields})
        for _ in range(2):
            assert H1.search(client.get("/").text).group(1) == first
    with app.app_context():
        recorded = db.session.execute(select(ResponseVariant.position)).scalars().all()
        counts = funnel_read.experiment_counts(experiment)
    assert len(recorded) == 60
    assert sum(counts[p]["start"] for p in range(3)) == 60
    assert sum(counts[p]["visit"] for p in range(3)) == 960  # no second visit for a draft


def test_the_result_page_shows_the_recorded_closing_text_and_cta(app: Flask) -> None:
    with app.app_context():
        # The call to action shows only with a target (quiz/_cta.html).
        site_settings.update({"cta.url": "https://termine.example.com/"}, changed_by="cli")
        closing = lifecycle.create(
            "Schluss",
            "result_closing",
            "click",
            [VariantInput("A", "Bis bald!"), VariantInput("B", "Viel Erfolg!")],
            "cli",
        )
        cta = lifecycle.create(
            "Einladung",
            "cta",
            "click",
            [
                VariantInput("A", "Sprechen wir darüber.", "Termin buchen"),
                VariantInput("B", "Eine halbe Stunde genügt.", "Gespräch vereinbaren"),
            ],
            "cli",
        )
        for experiment in (closing, cta):
            lifecycle.change(experiment, "started", "cli")
    client = browser(app)
    quizflow.complete_quiz(client, app)
    with app.app_context():
        response = db.session.scalars(select(Response)).one()
        mine = assign.of_response(response.id)
        token = response.result_token
        export = rights.export_data(get_content(), response)
    page = app.test_client().get(f"/r/{token}").text
    assert ["Bis bald!", "Viel Erfolg!"][mine[closing]] in page
    assert ["Sprechen wir darüber.", "Eine halbe Stunde genügt."][mine[cta]] in page
    assert {row["experiment"] for row in export["experiments"]} == {"Schluss", "Einladung"}
    # Once the test ends, the site's own texts are back (the page is rendered afresh).
    with app.app_context():
        lifecycle.change(closing, "ended", "cli")
    page = app.test_client().get(f"/r/{token}").text
    assert "Bis bald!" not in page and "Viel Erfolg!" not in page
    # Deleting the taker's data deletes what they were shown.
    with app.app_context():
        assert rights.delete_data(response.id)
        assert db.session.scalars(select(ResponseVariant)).all() == []


def test_one_active_test_per_element_and_every_change_recorded(app: Flask) -> None:
    first = _headline_test(app, HEADLINES[:2])
    with app.app_context():
        other = lifecycle.create(
            "Noch eine",
            "landing_headline",
            "finish",
            [VariantInput("A", "x"), VariantInput("B", "y")],
            "cli",
        )
        with pytest.raises(ExperimentError, match="schon ein anderer Test"):
            lifecycle.change(other, "started", "cli")
        lifecycle.change(first, "paused", "cli")
        with pytest.raises(ExperimentError, match="schon ein anderer Test"):
            lifecycle.change(other, "started", "cli")
        with pytest.raises(ExperimentError):
            lifecycle.choose_winner(first, 1, "cli")  # not ended yet
        lifecycle.change(first, "resumed", "cli")
        lifecycle.change(first, "ended", "cli")
        lifecycle.choose_winner(first, 1, "coach:c@example.com")
        lifecycle.change(other, "started", "cli")
        actions = db.session.execute(
            select(ExperimentEvent.action, ExperimentEvent.detail)
            .where(ExperimentEvent.experiment_id == first)
            .order_by(ExperimentEvent.id)
        ).all()
    assert [a for a, _ in actions] == [
        "created",
        "started",
        "paused",
        "resumed",
        "ended",
        "winner",
    ]
    assert actions[-1].detail == "B"


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([VariantInput("A", "nur eine")], "zwei bis vier"),
        ([VariantInput(str(i), f"t{i}") for i in range(5)], "zwei bis vier"),
        ([VariantInput("A", "x"), VariantInput("A", "y")], "eigenen Namen"),
        ([VariantInput("A", "x" * 2001), VariantInput("B", "y")], "zu lang"),
    ],
)
def test_bad_experiments_are_refused_in_german(
    app: Flask, variants: list[VariantInput], message: str
) -> None:
    with app.app_context(), pytest.raises(ExperimentError, match=message):
        lifecycle.create("Test", "landing_intro", "start", variants, "cli")


def test_a_finished_taker_is_counted_for_their_variant(app: Flask) -> None:
    experiment = _headline_test(app, HEADLINES[:2])
    client = browser(app)
    quizflow.complete_quiz(client, app)
    finished_response(app)  # no variant: started through the writer without one
    with app.app_context():
        counts = funnel_read.experiment_counts(experiment)
    assert sum(c["finish"] for c in counts.values()) == 1
