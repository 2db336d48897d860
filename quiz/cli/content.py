"""Content commands: `check-content` (validate a content file) and `score` (score answers)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import click
import orjson
from flask import current_app

from quiz.app_state import get_content
from quiz.domain.analysis import analyse
from quiz.domain.content import Content, ContentError, load_content
from quiz.domain.flow import Evaluation, evaluate, sample_taker
from quiz.domain.scoring import AnswerError

# The keys of a result that only a complete set of answers has; null while it is not complete.
SCORING_KEYS = (
    "scores",
    "uncertainty",
    "bands",
    "insufficient",
    "bottleneck",
    "bottleneck_acute",
    "tied_with",
    "close_to",
    "confidence",
    "runner_up",
    "weak_answers",
    "next_steps",
    "analysis",
)


@click.command("check-content")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--archived",
    is_flag=True,
    help="Check an archived version with the rules of its time (no coverage rules).",
)
def check_content(path: str | None, archived: bool) -> None:
    """Check a content file (default: the app's) and print a summary, or every error."""
    path = path or current_app.config["QUIZ_CONTENT_PATH"]
    try:
        content = load_content(path, current=not archived)
    except ContentError as exc:
        for error in exc.errors:
            click.echo(error, err=True)
        click.echo(f"{len(exc.errors)} error(s) in {path}", err=True)
        sys.exit(1)
    advice = sum(len(dimension.bands) for dimension in content.dimensions)
    click.echo(f"dimensions: {len(content.dimensions)}")
    click.echo(f"questions: {len(content.questions)}")
    click.echo(f"extra questions: {len(content.extra_questions)}")
    click.echo(f"advice: {advice}")
    click.echo(f"tips: {len(content.tips)}")
    click.echo(f"sources: {len(content.sources)}")


@click.command("score")
@click.argument("answers_file", required=False, type=click.File("r", encoding="utf-8"))
@click.option(
    "--batch",
    "batch_file",
    type=click.File("r", encoding="utf-8"),
    help="JSON Lines, one answers map per line (- for standard input); one compact result "
    "per line, in order. Every line is checked before any result is printed.",
)
@click.option(
    "--sample",
    type=click.Choice(["best", "worst", "random"]),
    help="Generate the answers (through the extra page, when one is due) instead of reading them.",
)
@click.option("--seed", type=int, default=None, help="Seed for --sample random.")
def score(answers_file: Any, batch_file: Any, sample: str | None, seed: int | None) -> None:
    """Score answers given as JSON {question_id: option_id} (a file or - for stdin).

    The result says whether the answers are `complete` and which questions the quiz would ask
    `next`; while they are not complete, the scoring keys are null.
    """
    content = get_content()
    if batch_file is not None:
        if answers_file is not None or sample:
            raise click.UsageError("--batch reads its own file; give no answers file or --sample")
        _score_batch(content, batch_file)
        return
    if sample:
        answers = sample_taker(content, sample, seed)  # type: ignore[arg-type]
    else:
        if answers_file is None:
            raise click.UsageError("give an answers file (or - for standard input), or --sample")
        try:
            answers = _answers_map(json.load(answers_file))
        except (json.JSONDecodeError, ValueError) as exc:
            raise click.ClickException(f"the answers {_reason(exc)}") from exc
    try:
        evaluation = evaluate(content, answers)
    except AnswerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result_json(content, answers, evaluation), ensure_ascii=False, indent=2))


def _score_batch(content: Content, lines: Iterable[str]) -> None:
    """Check every line, then print one compact result per line; exit 1 on the first bad line."""
    checked: list[tuple[dict[str, str], Evaluation]] = []
    for number, line in enumerate(lines, 1):
        try:
            answers = _answers_map(json.loads(line))
            checked.append((answers, evaluate(content, answers)))
        except AnswerError as exc:
            raise click.ClickException(f"line {number}: {exc}") from exc
        except (json.JSONDecodeError, ValueError) as exc:
            raise click.ClickException(f"line {number}: the answers {_reason(exc)}") from exc
    sys.stdout.flush()
    out = sys.stdout.buffer
    for answers, evaluation in checked:
        # orjson writes compact UTF-8 several times faster than json; the lines are ~20 kB.
        out.write(orjson.dumps(result_json(content, answers, evaluation)) + b"\n")
    out.flush()


def _answers_map(data: Any) -> dict[str, str]:
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        raise ValueError("must be a JSON object of strings")
    return data


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"are not valid JSON: {exc}"
    return str(exc)


def result_json(
    content: Content, answers: Mapping[str, str], evaluation: Evaluation
) -> dict[str, Any]:
    """The JSON of one scored (or not yet complete) answer set."""
    output: dict[str, Any] = {
        "content_version": content.version,
        "content_hash": content.sha256,
        "answers": dict(answers),
        "complete": evaluation.complete,
        "next_questions": list(evaluation.next_questions),
    }
    result = evaluation.result
    if result is None:
        return output | dict.fromkeys(SCORING_KEYS)
    analysis = analyse(content, answers, result)
    items = analysis.to_dicts()
    steps = sorted((item for item in items if item["next_step"]), key=lambda i: i["next_step"])
    return output | {
        "scores": dict(result.scores),
        "uncertainty": dict(result.uncertainty),
        "bands": dict(result.bands),
        "insufficient": sorted(result.insufficient),
        "bottleneck": result.bottleneck,
        "bottleneck_acute": result.bottleneck_acute,
        "tied_with": list(result.tied_with),
        "close_to": list(result.close_to),
        "confidence": result.confidence,
        "runner_up": result.runner_up,
        "weak_answers": {d.id: list(result.weak.get(d.id, ())) for d in content.dimensions},
        "next_steps": steps,
        "analysis": items,
    }


COMMANDS = [check_content, score]
