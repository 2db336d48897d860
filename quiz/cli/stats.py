"""`item-stats`: the questionnaire-quality figures and the norms of one content version (issue 14).

The same figures as the coach's "Fragebogen-Qualität" page, read from the item-statistics
counters (`quiz.counters.item_stats_read`, `quiz.counters.norms_read`); the norms follow the result page's settings
(QUIZ_NORMS_MIN, QUIZ_NORMS_INCLUDE_DEMO), not --demo.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from quiz.app_state import get_content
from quiz.counters import item_stats_read, norms_read
from quiz.counters.rollup_keys import QualityFilter

QUESTION_COLUMNS = (
    *("question", "dimension", "n", "mean", "r_it", "alpha_del"),
    *("floor", "ceiling", "flags", "counts"),
)


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned text columns, two spaces apart, with a rule under the header."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return [line.rstrip() for line in lines]


def report_lines(
    report: item_stats_read.ItemStatistics, norms: dict[str, norms_read.Norm], min_n: int
) -> list[str]:
    """The text output: responses, one table per dimension and question, the norms."""
    r = report.responses
    lines = [
        f"content version {report.version}, demo {report.demo}, quality {report.quality}",
        f"finished: {report.finished} (straight-lining {r.straight_lining}, "
        f"speeders {r.speeders}, median time {r.median_seconds if r.median_seconds is not None else '-'} s)",
        "",
    ]
    lines += table(
        ["dimension", "n", "alpha", "flags"],
        [
            [
                dimension,
                str(a.n),
                _number(a.alpha) if a.enough else "too few answers",
                ", ".join(f.code for f in a.flags) or "-",
            ]
            for dimension, a in report.dimensions.items()
        ],
    )
    lines.append("")
    question_rows = []
    for question_id, figures in report.questions.items():
        item = figures.analysis
        enough = report.dimensions[figures.dimension].enough
        counts = " ".join(f"{option}={n}" for option, n in sorted(figures.counts.items()))
        question_rows.append(
            [
                question_id,
                figures.dimension,
                str(item.distribution.n),
                _number(item.distribution.mean),
                _number(item.item_total_r) if enough else "-",
                _number(item.alpha_if_deleted) if enough else "-",
                _share(item.distribution.floor_share),
                _share(item.distribution.ceiling_share),
                ", ".join(f.code for f in item.flags) or "-",
                counts,
            ]
        )
    lines += table(QUESTION_COLUMNS, question_rows)
    lines.append("")
    lines.append(f"norms (shown from {min_n} comparable responses on):")
    lines += table(
        ["dimension", "n", "percentile of 25/50/75"],
        [
            [
                dimension,
                str(norm.n),
                "too few"
                if norm.percentile_by_score is None
                else "/".join(str(norm.percentile_by_score[s]) for s in (25, 50, 75)),
            ]
            for dimension, norm in norms.items()
        ],
    )
    return lines


@click.command("item-stats")
@with_appcontext
@click.option("--version", "version", default=None, help="Content version (default: current).")
@click.option(
    "--demo",
    type=click.Choice(["include", "exclude", "only"]),
    default="include",
    show_default=True,
    help="Demo takers, as on the dashboard.",
)
@click.option(
    "--quality",
    type=click.Choice(["all", "clean", "flagged"]),
    default="all",
    show_default=True,
    help="clean leaves out straight-liners and speeders.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def item_stats_command(
    version: str | None,
    demo: item_stats_read.DemoFilter,
    quality: QualityFilter,
    as_json: bool,
) -> None:
    """Reliability, item statistics and norms of a content version, from the counters."""
    version = version or get_content().version
    report = item_stats_read.read(version, demo, quality)
    min_n = int(current_app.config["QUIZ_NORMS_MIN"])
    norms = norms_read.norms(version, bool(current_app.config["QUIZ_NORMS_INCLUDE_DEMO"]), min_n)
    if as_json:
        data: dict[str, Any] = report.as_json()
        data["norms"] = norms_read.norms_json(norms)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for line in report_lines(report, norms, min_n):
        click.echo(line)


COMMANDS = [item_stats_command]
