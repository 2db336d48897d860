"""Content commands: `check-content` (validate a content file) and `score` (preview an analysis)."""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

import click
from flask import current_app

from quiz.app_state import get_content
from quiz.domain.analysis import analyse
from quiz.domain.content import ContentError, load_content
from quiz.domain.scoring import AnswerError, sample_answers, score_answers


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
    click.echo(f"advice: {advice}")
    click.echo(f"tips: {len(content.tips)}")
    click.echo(f"sources: {len(content.sources)}")


@click.command("score")
@click.argument("answers_file", required=False, type=click.File("r", encoding="utf-8"))
@click.option(
    "--sample",
    type=click.Choice(["best", "worst", "random"]),
    help="Generate the answers instead of reading them.",
)
@click.option("--seed", type=int, default=None, help="Seed for --sample random.")
def score(
    answers_file: Any, sample: Literal["best", "worst", "random"] | None, seed: int | None
) -> None:
    """Score answers given as JSON {question_id: option_id} (a file or - for stdin)."""
    content = get_content()
    if sample:
        answers = sample_answers(content, sample, seed)
    else:
        if answers_file is None:
            raise click.UsageError("give an answers file (or - for standard input), or --sample")
        try:
            answers = json.load(answers_file)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"the answers are not valid JSON: {exc}") from exc
        if not isinstance(answers, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in answers.items()
        ):
            raise click.ClickException("the answers must be a JSON object of strings")
    try:
        result = score_answers(content, answers)
    except AnswerError as exc:
        raise click.ClickException(str(exc)) from exc
    analysis = analyse(content, answers, result)
    output = {
        "content_version": content.version,
        "content_hash": content.sha256,
        "answers": answers,
        "scores": dict(result.scores),
        "bands": dict(result.bands),
        "insufficient": sorted(result.insufficient),
        "bottleneck": result.bottleneck,
        "bottleneck_acute": result.bottleneck_acute,
        "tied_with": list(result.tied_with),
        "runner_up": result.runner_up,
        "next_steps": [item.to_dict() for item in analysis.next_steps],
        "analysis": analysis.to_dicts(),
    }
    click.echo(json.dumps(output, ensure_ascii=False, indent=2))


COMMANDS = [check_content, score]
