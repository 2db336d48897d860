"""`flask --app quiz experiments list|show ID [--json]` (issue 25, item 4)."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from quiz import database
from quiz.counters import funnel
from quiz.domain import ab_stats
from quiz.domain.ab_stats import Arm
from quiz.experiments import lifecycle
from quiz.experiments.lifecycle import VariantInput

METRIC_KEYS = {"rate", "prob_best", "expected_loss", "ci_low", "ci_high"}
VARIANT_KEYS = {"name", "text", "visits", "starts", "finishes", "optins", "clicks", "metrics"}


def _experiment(app: Flask, counts: dict[int, dict[str, int]]) -> int:
    with app.app_context():
        experiment = lifecycle.create(
            "Einleitung",
            "landing_intro",
            "finish",
            [VariantInput("A", "Kurz."), VariantInput("B", "Länger."), VariantInput("C", "Ganz")],
            "cli",
        )
        lifecycle.change(experiment, "started", "cli")
        with database.write():
            funnel.add_experiments(
                {(experiment, p, m): n for p, by in counts.items() for m, n in by.items()}
            )
    return experiment


def test_show_json_has_exactly_the_issues_shape(app: Flask, runner: FlaskCliRunner) -> None:
    counts = {
        0: {"visit": 600, "start": 300, "finish": 60, "optin": 20},
        1: {"visit": 610, "start": 320, "finish": 122, "optin": 30},
        2: {"visit": 590, "start": 280, "finish": 59, "optin": 18},
    }
    experiment = _experiment(app, counts)
    result = runner.invoke(args=["experiments", "show", str(experiment), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"id", "element", "metric", "status", "variants", "recommendation"}
    assert (data["id"], data["element"], data["metric"], data["status"]) == (
        experiment,
        "landing_intro",
        "finish",
        "running",
    )
    assert [v["name"] for v in data["variants"]] == ["A", "B", "C"]
    for position, variant in enumerate(data["variants"]):
        assert set(variant) == VARIANT_KEYS
        assert set(variant["metrics"]) == {"start", "finish", "optin", "click"}
        c = counts[position]
        assert (variant["visits"], variant["starts"], variant["finishes"], variant["optins"]) == (
            c["visit"],
            c["start"],
            c["finish"],
            c["optin"],
        )
        assert variant["clicks"] == 0  # until the call-to-action clicks are merged
        for figures in variant["metrics"].values():
            assert set(figures) == METRIC_KEYS
            assert 0 <= figures["rate"] <= 1
        assert variant["metrics"]["finish"]["rate"] == pytest.approx(c["finish"] / c["visit"])
    first = data["variants"][0]["metrics"]["finish"]
    assert (first["ci_low"], first["ci_high"]) == (0, 0)
    expected = ab_stats.analyse([Arm(c["visit"], c["finish"]) for c in counts.values()])
    assert data["variants"][1]["metrics"]["finish"]["prob_best"] == expected[1].prob_best
    assert data["variants"][1]["metrics"]["finish"]["ci_low"] > 0
    assert data["recommendation"] == "B"


def test_show_without_enough_visits_recommends_nothing(app: Flask, runner: FlaskCliRunner) -> None:
    experiment = _experiment(app, {0: {"visit": 50}, 1: {"visit": 50}, 2: {"visit": 50}})
    data = json.loads(runner.invoke(args=["experiments", "show", str(experiment), "--json"]).output)
    assert data["recommendation"] is None
    text = runner.invoke(args=["experiments", "show", str(experiment)]).output
    assert "recommendation: none yet" in text and "prior Beta(1, 1)" in text


def test_list_and_unknown_ids(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["experiments", "list"]).output == "no experiments\n"
    experiment = _experiment(app, {})
    listed = runner.invoke(args=["experiments", "list", "--json"])
    assert json.loads(listed.output) == [
        {
            "id": experiment,
            "name": "Einleitung",
            "element": "landing_intro",
            "metric": "finish",
            "status": "running",
            "variants": 3,
        }
    ]
    assert "running\tlanding_intro" in runner.invoke(args=["experiments", "list"]).output
    missing = runner.invoke(args=["experiments", "show", "999"])
    assert missing.exit_code == 1 and "no experiment 999" in missing.output
    assert runner.invoke(args=["experiments", "show", "0"]).exit_code == 2
