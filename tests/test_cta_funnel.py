"""The call to action's clicks in the funnel (issue 25 with issue 22): per source on the dashboard
and per variant in an A/B test's readout, each taker who clicked counted once."""

from __future__ import annotations

from flask import Flask

from quiz.app_state import get_content
from quiz.coach import sources
from quiz.coach.stats import Filters
from quiz.experiments import lifecycle, readout
from quiz.experiments.lifecycle import VariantInput
from quiz.taker import clicks, responses
from tests.factories import finished_response


def test_clicks_are_counted_per_source_and_per_variant_once_per_taker(app: Flask) -> None:
    linkedin = finished_response(app, tracking={"utm_source": "linkedin", "utm_medium": "social"})
    podcast = finished_response(
        app, email="zwei@example.com", seed=3, tracking={"utm_source": "podcast"}
    )
    finished_response(app, email="drei@example.com", seed=5, tracking={"utm_source": "podcast"})
    with app.app_context():
        clicks.record(linkedin.id, "result")
        clicks.record(linkedin.id, "email")  # the same taker again: one clicking taker
        clicks.record(podcast.id, "pdf")

        by_source = sources.cta_clicks_by_source(sources.narrowed(Filters()))

        assert by_source == {("linkedin", "social", "", ""): 1, ("podcast", "", "", ""): 1}
        assert sources.cta_clicks_by_source(sources.narrowed(Filters(demo="demo"))) == {}

        experiment = lifecycle.create(
            "Einladung",
            "cta",
            "click",
            [VariantInput("A", "Sprechen wir.", "Termin"), VariantInput("B", "Gern.", "Los")],
            "cli",
        )
        content = get_content()
        shown = [responses.start_draft(content, {}, {experiment: n % 2}).id for n in range(5)]
        for response_id in (shown[0], shown[0], shown[2], shown[1]):
            clicks.record(response_id, "result")

        assert readout.cta_clicks_by_variant(experiment) == {0: 2, 1: 1}
