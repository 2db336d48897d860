"""The content and scoring commands, and start-up with broken content."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from quiz import create_app
from quiz.app_state import StartupError
from quiz.cli.content import SCORING_KEYS, check_content, score
from quiz.domain.content import load_content
from quiz.domain.flow import evaluate, sample_taker
from quiz.domain.scoring import sample_answers
from tests.conftest import FIXTURES, REAL_CONTENT, TEST_SECRET

REAL = load_content(REAL_CONTENT)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cli_app(tmp_path_factory: pytest.TempPathFactory):
    """An app for commands that need no database."""
    instance = tmp_path_factory.mktemp("cli")
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/x.db",
        }
    )


def invoke(cli_app, command, args, input=None):
    with cli_app.app_context():
        return CliRunner().invoke(command, args, input=input, catch_exceptions=False)


def test_check_content_summarises_a_file_that_meets_the_current_rules(cli_app) -> None:
    result = invoke(cli_app, check_content, [str(FIXTURES / "mini.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "dimensions",
        "questions",
        "extra questions",
        "advice",
        "tips",
        "sources",
    ]
    assert "questions: 24" in lines
    assert "extra questions: 0" in lines
    assert "dimensions: 6" in lines


def test_check_content_applies_the_current_rules_unless_archived(cli_app, tmp_path: Path) -> None:
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "{question: g3, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: g3, answers: [nein, teils, eher_ja]}",
    )
    path = tmp_path / "old.yaml"
    path.write_text(text, encoding="utf-8")
    result = invoke(cli_app, check_content, [str(path)])
    assert result.exit_code == 1
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "{id: g3," in row)
    assert f"{path}:{line}: question 'g3': the weak answer 'eher_nein'" in result.output
    archived = invoke(cli_app, check_content, ["--archived", str(path)])
    assert archived.exit_code == 0, archived.output


def test_check_content_loads_the_archived_2026_1_file(cli_app) -> None:
    archived = REAL_CONTENT.parent / "archive" / "2026.1.yaml"
    result = invoke(cli_app, check_content, ["--archived", str(archived)])
    assert result.exit_code == 0, result.output
    assert "questions: 30" in result.output.splitlines()


def test_check_content_reports_planted_errors_with_lines(cli_app, tmp_path: Path) -> None:
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")
    text = text.replace("{id: g3, dimension: schmerzgrenze", "{id: g3, dimension: zeit", 1)
    text = text.replace("min: 40, max: 69", "min: 45, max: 69", 1)
    broken = tmp_path / "broken.yaml"
    broken.write_text(text, encoding="utf-8")
    result = invoke(cli_app, check_content, [str(broken)])
    assert result.exit_code == 1
    zeit_line = next(n for n, line in enumerate(text.splitlines(), 1) if "dimension: zeit" in line)
    band_line = next(n for n, line in enumerate(text.splitlines(), 1) if "min: 45" in line)
    assert f"{broken}:{zeit_line}: unknown dimension 'zeit'" in result.output
    assert f"{broken}:{band_line}: gap in the bands: no band covers 40..44" in result.output


def test_score_reads_answers_from_stdin(cli_app) -> None:
    best = invoke(cli_app, score, ["--sample", "best"])
    answers = json.loads(best.output)["answers"]
    result = invoke(cli_app, score, ["-"], input=json.dumps(answers))
    assert result.exit_code == 0
    output = json.loads(result.output)
    assert set(output) >= {"scores", "bands", "bottleneck", "runner_up", "analysis"}
    assert all(value == 100 for value in output["scores"].values())
    assert output["analysis"][0]["kind"] == "bottleneck"
    assert output["analysis"][0]["sources"][0]["file"].endswith(".txt")
    # Everything at 100: no acute bottleneck, and the tie with every other dimension disclosed.
    assert output["bottleneck_acute"] is False
    assert sorted([output["bottleneck"], *output["tied_with"]]) == sorted(output["scores"])
    assert output["insufficient"] == []


def test_score_json_names_triggers_and_exactly_three_next_steps(cli_app) -> None:
    output = json.loads(invoke(cli_app, score, ["--sample", "worst"]).output)
    assert output["bottleneck_acute"] is True
    assert output["bottleneck"] not in output["tied_with"]
    assert output["bottleneck"] == output["analysis"][0]["dimension"]
    for item in output["analysis"]:
        assert isinstance(item["triggered_by"], list)
        if item["kind"] == "tip":
            assert item["triggered_by"]
            assert set(item["triggered_by"]) <= set(output["answers"])
        else:
            assert item["triggered_by"] == []
    steps = output["next_steps"]
    assert len(steps) == 3
    assert [step["next_step"] for step in steps] == [1, 2, 3]
    assert steps[0]["dimension"] == output["bottleneck"]
    stored = [item for item in output["analysis"] if item["next_step"]]
    assert sorted(stored, key=lambda item: item["next_step"]) == steps


def test_score_samples_differ_by_profile(cli_app) -> None:
    worst = json.loads(invoke(cli_app, score, ["--sample", "worst"]).output)
    assert all(value == 0 for value in worst["scores"].values())
    one = invoke(cli_app, score, ["--sample", "random", "--seed", "3"]).output
    assert one == invoke(cli_app, score, ["--sample", "random", "--seed", "3"]).output


def test_score_of_incomplete_answers_names_the_next_questions_and_nulls_the_scores(
    cli_app,
) -> None:
    answers = json.loads(invoke(cli_app, score, ["--sample", "best"]).output)["answers"]
    core = [q.id for q in REAL.questions]
    missing = core[-1]
    del answers[missing]
    result = invoke(cli_app, score, ["-"], input=json.dumps(answers))
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["complete"] is False
    assert output["next_questions"] == [missing]
    for key in SCORING_KEYS:
        assert output[key] is None, key
    empty = json.loads(invoke(cli_app, score, ["-"], input="{}").output)
    assert empty["next_questions"] == core


def test_score_refuses_malformed_json(cli_app) -> None:
    with cli_app.app_context():
        result = CliRunner().invoke(score, ["-"], input="{nope")
    assert result.exit_code == 1
    assert "not valid JSON" in result.output


def test_broken_content_stops_startup_with_file_and_line(tmp_path: Path, monkeypatch) -> None:
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8").replace("score: 2}", "score: 9}", 1)
    broken = tmp_path / "questions.yaml"
    broken.write_text(text, encoding="utf-8")
    monkeypatch.setenv("QUIZ_CONTENT_PATH", str(broken))
    with pytest.raises(StartupError) as caught:
        create_app({"TESTING": True, "SECRET_KEY": TEST_SECRET})
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "score: 9" in row)
    assert f"{broken}:{line}:" in caught.value.format_message()


def test_flask_command_prints_content_errors_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "questions.yaml"
    broken.write_text("version: [unclosed\n", encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "QUIZ_CONTENT_PATH": str(broken),
        "QUIZ_INSTANCE_PATH": str(tmp_path),
    }
    flask = Path(sys.executable).parent / "flask"
    run = subprocess.run(
        [str(flask), "--app", "quiz", "check-content"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 1
    assert f"{broken}:" in run.stderr
    assert "Traceback" not in run.stderr


# --- score --batch (issue 23, item 3) ------------------------------------------------------


def batch(cli_app, lines: list[str]):
    """Run `score --batch -` on these lines (stdout and stderr kept apart)."""
    with cli_app.app_context():
        return CliRunner().invoke(
            score, ["--batch", "-"], input="".join(f"{line}\n" for line in lines)
        )


def test_batch_writes_one_compact_result_per_line_in_order(cli_app) -> None:
    takers = [sample_taker(REAL, "random", seed) for seed in range(6)]
    core_only = sample_answers(REAL, "random", 11)
    lines = [json.dumps(answers) for answers in (*takers, core_only, {})]
    result = batch(cli_app, lines)
    assert result.exit_code == 0, result.output
    printed = result.output.splitlines()
    assert len(printed) == len(lines)
    compact = [
        json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")) for line in printed
    ]
    assert printed == compact
    outputs = [json.loads(line) for line in printed]
    assert [out["answers"] for out in outputs] == [json.loads(line) for line in lines]
    for out in outputs:
        assert {"complete", "next_questions", "close_to", "confidence", "weak_answers"} <= set(out)
    for answers, out in zip(takers, outputs, strict=False):
        assert out["complete"] is True and out["next_questions"] == []
        expected = evaluate(REAL, answers).result
        assert expected is not None
        assert out["bottleneck"] == expected.bottleneck
        assert out["close_to"] == list(expected.close_to)
        assert out["confidence"] == (
            "klar" if not out["close_to"] and not out["tied_with"] else "knapp"
        )
        assert set(out["weak_answers"]) == {d.id for d in REAL.dimensions}
        for dimension, questions in out["weak_answers"].items():
            for question in questions:
                assert REAL.question_by_id[question].dimension == dimension
                assert REAL.choice(question, answers[question]).weak
    # The core answers alone: complete unless an extra page is due for them, which comes next.
    due = evaluate(REAL, core_only).next_questions
    assert outputs[-2]["complete"] is (not due)
    assert outputs[-2]["next_questions"] == list(due)
    assert outputs[-1]["next_questions"] == [q.id for q in REAL.questions]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{nope", "line 3: the answers are not valid JSON"),
        ('["a list"]', "line 3: the answers must be a JSON object of strings"),
        ('{"zz_unbekannt": "ja"}', "line 3: unknown question 'zz_unbekannt'"),
        (
            '{"le_onboarding": "vielleicht"}',
            "line 3: invalid answer 'vielleicht' for question 'le_onboarding'",
        ),
        ('{"sg_x_umfang": "teils"}', "line 3: question 'sg_x_umfang' is not asked before the core"),
    ],
)
def test_batch_stops_at_a_bad_line_before_printing_any_result(cli_app, bad, message) -> None:
    good = json.dumps(sample_taker(REAL, "random", 1))
    result = batch(cli_app, [good, good, bad, good])
    assert result.exit_code == 1
    assert message in result.output
    assert '"bottleneck"' not in result.output


def test_batch_refuses_an_extra_question_the_quiz_does_not_ask_for_these_answers(cli_app) -> None:
    answers = sample_answers(REAL, "best") | {"le_onboarding": "trifft_nicht_zu"}
    assert evaluate(REAL, answers).complete  # a clear result: no extra page
    stray = REAL.extra_questions[0].id
    result = batch(cli_app, [json.dumps(answers | {stray: "teils"})])
    assert result.exit_code == 1
    assert f"line 1: question '{stray}' is not asked for these answers" in result.output


def test_batch_in_forked_workers_keeps_the_order_and_names_the_bad_line(
    cli_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of three lines: ten lines go to one worker per core, a chunk at a time.
    monkeypatch.setattr("quiz.cli.content.BATCH_CHUNK", 3)
    takers = [sample_taker(REAL, "random", seed) for seed in range(10)]
    result = batch(cli_app, [json.dumps(answers) for answers in takers])
    assert result.exit_code == 0, result.output
    outputs = [json.loads(line) for line in result.output.splitlines()]
    assert [out["answers"] for out in outputs] == takers
    for answers, out in zip(takers, outputs, strict=True):
        expected = evaluate(REAL, answers).result
        assert expected is not None and out["bottleneck"] == expected.bottleneck
    bad = [json.dumps(answers) for answers in takers]
    bad[7] = '{"zz_unbekannt": "ja"}'
    result = batch(cli_app, bad)
    assert result.exit_code == 1
    assert "line 8: unknown question 'zz_unbekannt'" in result.output
    assert '"bottleneck"' not in result.output
