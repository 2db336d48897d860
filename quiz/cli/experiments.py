"""`experiments list [--json]` and `experiments show ID [--json]`: the A/B tests and their
readout from the command line, the same figures as /coach/experimente (issue 25)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from quiz.domain import ab_stats
from quiz.experiments import readout

experiments_group = AppGroup("experiments", help="The A/B tests and their readout.")


@experiments_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per experiment.")
def list_command(as_json: bool) -> None:
    """Every experiment, newest first."""
    rows = readout.summaries()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": row.id,
                        "name": row.name,
                        "element": row.element,
                        "metric": row.metric,
                        "status": row.status,
                        "variants": row.variants,
                    }
                    for row in rows
                ],
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        click.echo("no experiments")
    for row in rows:
        click.echo(
            f"{row.id}\t{row.status}\t{row.element}\t{row.metric}\t"
            f"{row.variants} variants\t{json.dumps(row.name, ensure_ascii=False)}"
        )


@experiments_group.command("show")
@click.argument("experiment_id", type=click.IntRange(min=1, max=2**31 - 1))
@click.option("--json", "as_json", is_flag=True, help="The readout as one JSON object.")
def show_command(experiment_id: int, as_json: bool) -> None:
    """One experiment's counts per variant and the readout of every metric; exit 1 if unknown."""
    result = readout.readout(experiment_id)
    if result is None:
        raise click.ClickException(f"no experiment {experiment_id}")
    if as_json:
        click.echo(json.dumps(readout.as_json(result), ensure_ascii=False))
        return
    click.echo(
        f"experiment {result.id}: {json.dumps(result.name, ensure_ascii=False)} "
        f"({result.element}, decided by {result.metric}, {result.status})"
    )
    click.echo(
        f"prior Beta(1, 1); {ab_stats.DRAWS} Monte Carlo draws, seed {ab_stats.SEED}; "
        f"threshold {result.threshold_pp:g} pp, at least {ab_stats.MIN_VISITS} visits a variant"
    )
    for variant in result.variants:
        click.echo(
            f"  {variant.name}: visits {variant.visits}, starts {variant.starts}, finishes "
            f"{variant.finishes}, optins {variant.optins}, clicks {variant.clicks}; "
            f"text {json.dumps(variant.text, ensure_ascii=False)}"
        )
        for metric, f in variant.metrics.items():
            click.echo(
                f"    {metric:7} rate {f.rate:.4f}  P(best) {f.prob_best:.4f}  "
                f"loss {f.expected_loss:.5f}  diff 95% [{f.ci_low:+.4f}, {f.ci_high:+.4f}]"
            )
    if result.decision.srm:
        click.echo(f"sample-ratio mismatch: p = {result.decision.srm_p:.2g}")
    click.echo(f"recommendation: {result.recommendation or 'none yet'}")


COMMANDS = (experiments_group,)
