"""`flask --app quiz item-stats` prints the figures numpy computes from generated takers, as JSON
and as tables, with the dashboard's demo filter and the result page's norm settings (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from quiz.app_state import get_content
from quiz.domain.content import Content
from tests.quality_data import (
    finish,
    generated,
    numpy_alpha,
    numpy_item_total_r,
    points_matrix,
)


def run_json(runner: FlaskCliRunner, *args: str) -> dict[str, Any]:
    result = runner.invoke(args=["item-stats", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def midrank(scores: np.ndarray, score: int) -> int:
    """Share below plus half the share equal, in whole percent rounded half up (integers only)."""
    below, same, n = int((scores < score).sum()), int((scores == score).sum()), len(scores)
    return (200 * below + 100 * same + n) // (2 * n)


def seed(app: Flask, real: int = 40, demo: int = 10) -> tuple[Content, list[Any], list[Any], Any]:
    """Real and demo takers with generated answers and random scores per dimension."""
    rng = np.random.default_rng(42)
    with app.app_context():
        content = get_content()
        dimensions = [d.id for d in content.dimensions]
        takers = generated(content, 11, real + demo)
        scores = rng.integers(0, 101, size=(real + demo, len(dimensions)))
        for i, chosen in enumerate(takers):
            finish(
                content,
                chosen,
                demo=i >= real,
                scores={d: int(scores[i, j]) for j, d in enumerate(dimensions)},
            )
    return content, takers[:real], takers[real:], scores


def assert_json_matches(data: dict[str, Any], content: Content, takers: list[Any]) -> None:
    for dimension in content.dimensions:
        x = points_matrix(content, takers, dimension.id)
        figures = data["dimensions"][dimension.id]
        assert figures["n"] == len(takers)
        assert figures["alpha"] == pytest.approx(numpy_alpha(x), rel=1e-12)
        for i, question in enumerate(content.questions_of(dimension.id)):
            q = data["questions"][question.id]
            assert q["item_total_r"] == pytest.approx(numpy_item_total_r(x, i), rel=1e-12)
            assert q["alpha_if_deleted"] == pytest.approx(
                numpy_alpha(np.delete(x, i, axis=1)), rel=1e-12
            )
            chosen = [taker[question.id] for taker in takers]
            assert q["counts"] == {option: chosen.count(option) for option in set(chosen)}


@pytest.mark.app_config(QUIZ_NORMS_MIN=30)
def test_json_has_every_figure_numpy_computes(app: Flask, runner: FlaskCliRunner) -> None:
    content, real, demo, scores = seed(app)
    data = run_json(runner)
    assert data["version"] == content.version and data["demo"] == "include"
    assert_json_matches(data, content, real + demo)
    assert_json_matches(run_json(runner, "--demo", "exclude"), content, real)
    only = run_json(runner, "--demo", "only")
    assert only["dimensions"][content.dimensions[0].id]["n"] == len(demo)
    # Norms: finished non-demo responses of the version (QUIZ_NORMS_INCLUDE_DEMO is false),
    # whatever --demo says.
    for j, dimension in enumerate(d.id for d in content.dimensions):
        norm = data["norms"][dimension]
        assert norm["n"] == len(real)
        table = norm["percentile_by_score"]
        assert list(table) == [str(s) for s in range(101)]
        assert table == {str(s): midrank(scores[: len(real), j], s) for s in range(101)}
        assert only["norms"][dimension] == norm


@pytest.mark.app_config(QUIZ_NORMS_MIN=50, QUIZ_NORMS_INCLUDE_DEMO=True)
def test_norms_follow_the_result_page_settings(app: Flask, runner: FlaskCliRunner) -> None:
    content, _real, _demo, scores = seed(app, real=40, demo=10)
    dimension = content.dimensions[0].id
    norm = run_json(runner)["norms"][dimension]
    assert norm["n"] == 50
    assert norm["percentile_by_score"] == {str(s): midrank(scores[:, 0], s) for s in range(101)}


def test_norms_stay_hidden_below_the_minimum(app: Flask, runner: FlaskCliRunner) -> None:
    content, _real, _demo, _scores = seed(app, real=40, demo=0)
    data = run_json(runner)
    assert app.config["QUIZ_NORMS_MIN"] == 100
    for dimension in content.dimensions:
        assert data["norms"][dimension.id] == {"n": 40, "percentile_by_score": None}


def test_text_output_is_a_table_per_kind(app: Flask, runner: FlaskCliRunner) -> None:
    content, real, demo, _scores = seed(app, real=25, demo=10)
    result = runner.invoke(args=["item-stats", "--demo", "exclude"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"content version {content.version}, demo exclude, quality all"
    header = lines.index(next(line for line in lines if line.startswith("dimension ")))
    assert lines[header].split() == ["dimension", "n", "alpha", "flags"]
    assert set(lines[header + 1]) == {"-", " "}
    dimension = content.dimensions[0].id
    first = next(line for line in lines[header:] if line.startswith(dimension + " ")).split()
    assert first[:2] == [content.dimensions[0].id, "25"]
    assert " ".join(first[2:]) == "too few answers -"
    text = runner.invoke(args=["item-stats"]).output
    x = points_matrix(content, real + demo, content.dimensions[0].id)
    row = next(line for line in text.splitlines() if line.startswith(content.dimensions[0].id))
    assert row.split()[:3] == [content.dimensions[0].id, "35", f"{numpy_alpha(x):.2f}"]
    question = content.questions_of(content.dimensions[0].id)[0].id
    row = next(line for line in text.splitlines() if line.startswith(question + " "))
    assert row.split()[4] == f"{numpy_item_total_r(x, 0):.2f}"


def test_other_versions_and_bad_choices(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        content = get_content()
        for chosen in generated(content, 12, 3):
            finish(content, chosen, version="2025.9")
    data = run_json(runner, "--version", "2025.9")
    assert data["version"] == "2025.9"
    assert data["dimensions"][content.dimensions[0].id]["n"] == 3
    assert run_json(runner)["finished"] == 0
    bad = runner.invoke(args=["item-stats", "--demo", "alle"])
    assert bad.exit_code == 2 and "include" in bad.output
