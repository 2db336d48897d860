"""Content commands: `check-content` (validate a content file) and `score` (score answers)."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal

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
def score(
    answers_file: Any,
    batch_file: Any,
    sample: Literal["best", "worst", "random"] | None,
    seed: int | None,
) -> None:
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
        answers = sample_taker(content, sample, seed)
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


# Lines a worker takes at a time; a batch of fewer than two chunks runs in this process.
BATCH_CHUNK = 250
# The content the forked workers score with (set before they start, inherited by fork).
_BATCH: dict[str, Content] = {}


def _score_batch(content: Content, lines: Iterable[str]) -> None:
    """Check every line, then print one compact result per line; exit 1 on the first bad line.

    Large batches are scored by one forked worker per core, a chunk of lines at a time, and
    written in order: first every line is checked (and scored), then the results are laid out.
    """
    parsed: list[dict[str, str]] = []
    failed: tuple[int, str] | None = None
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(_answers_map(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as exc:
            failed = (number, f"the answers {_reason(exc)}")
            break
    chunks = [parsed[i : i + BATCH_CHUNK] for i in range(0, len(parsed), BATCH_CHUNK)]
    _BATCH["content"] = content
    workers = min(os.cpu_count() or 1, len(chunks))
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        run = pool.imap if pool is not None else map
        evaluated = list(run(_evaluate_chunk, chunks))
        for index, results in enumerate(evaluated):
            error = next(((i, r) for i, r in enumerate(results) if isinstance(r, str)), None)
            if error is not None:
                failed = (index * BATCH_CHUNK + error[0] + 1, error[1])
                break
        if failed is not None:
            raise click.ClickException(f"line {failed[0]}: {failed[1]}")
        sys.stdout.flush()
        out = sys.stdout.buffer
        for rendered in run(_render_chunk, zip(chunks, evaluated, strict=True)):
            out.write(rendered)
        out.flush()
    finally:
        if pool is not None:
            pool.terminate()
        _BATCH.clear()


def _evaluate_chunk(chunk: list[dict[str, str]]) -> list[Evaluation | str]:
    """Each line's evaluation, or the message naming what is wrong with it."""
    content = _BATCH["content"]
    results: list[Evaluation | str] = []
    for answers in chunk:
        try:
            results.append(evaluate(content, answers))
        except AnswerError as exc:
            results.append(str(exc))
    return results


def _render_chunk(pair: tuple[list[dict[str, str]], list[Evaluation | str]]) -> bytes:
    """The chunk's results as JSON Lines; orjson writes the ~20 kB lines compact and fast."""
    content = _BATCH["content"]
    return b"".join(
        orjson.dumps(result_json(content, answers, evaluation)) + b"\n"
        for answers, evaluation in zip(*pair, strict=True)
        if isinstance(evaluation, Evaluation)
    )


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
