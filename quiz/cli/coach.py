"""Commands for the coach view: accounts, rollups, demo data."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext

from quiz import counters
from quiz.app_state import get_content
from quiz.coach import accounts as coach_accounts
from quiz.coach import demo


def _read_password() -> str:
    """Twice at a terminal; from standard input (one line, or two that must match) otherwise."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    lines = sys.stdin.read().splitlines()
    if not lines or not lines[0]:
        raise click.ClickException("no password on standard input")
    if len(lines) > 1 and lines[1] != lines[0]:
        raise click.ClickException("the two passwords differ")
    return lines[0]


@click.command("create-coach")
@with_appcontext
@click.argument("email")
@click.option("--reset", is_flag=True, help="Set a new password for an existing coach.")
def create_coach(email: str, reset: bool) -> None:
    """Create a coach login (or, with --reset, set a new password); prompts for the password."""
    password = _read_password()
    try:
        if reset:
            coach = coach_accounts.set_password(email, password)
            click.echo(f"New password set for {coach.email}; their sessions have ended.")
        else:
            coach = coach_accounts.create_coach(email, password)
            click.echo(f"Coach {coach.email} created.")
    except coach_accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("rebuild-rollups")
@with_appcontext
@click.option("--check", is_flag=True, help="Only compare; exit 1 when they differ.")
def rebuild_rollups(check: bool) -> None:
    """Recompute the dashboard's rollups and the item statistics from the raw responses."""
    outcome = counters.recount(check=check)
    click.echo(
        f"rollup rows: {outcome.rollup_rows}; differing before the rebuild: {outcome.differing}"
    )
    if check:
        click.echo(f"item statistics: {len(outcome.item_problems)} difference(s)")
        for problem in outcome.item_problems:
            click.echo(f"  {problem}")
    else:
        click.echo(f"item statistics rebuilt ({outcome.judged} response(s) judged)")
    if check and (outcome.differing or outcome.item_problems):
        sys.exit(1)


@click.command("seed-demo")
@with_appcontext
@click.argument("count", type=click.IntRange(min=1), required=False)
@click.option("--remove", is_flag=True, help="Delete all demo takers instead.")
@click.option("--seed", "seed_value", type=int, default=None, help="Random seed (repeatable data).")
def seed_demo(count: int | None, remove: bool, seed_value: int | None) -> None:
    """Add COUNT synthetic demo takers (marked as demo data), or remove them all with --remove."""
    started = time.perf_counter()
    if remove:
        removed = demo.remove()
        click.echo(f"removed {removed} demo takers in {time.perf_counter() - started:.1f} s")
        return
    if count is None:
        raise click.UsageError("give the number of demo takers, or --remove")

    def progress(done: int) -> None:
        if done % 100_000 < demo.BATCH:
            click.echo(f"  {done} ...", err=True)

    added = demo.seed(get_content(), count, seed_value=seed_value, progress=progress)
    click.echo(f"added {added} demo takers in {time.perf_counter() - started:.1f} s")


COMMANDS = [create_coach, rebuild_rollups, seed_demo]
