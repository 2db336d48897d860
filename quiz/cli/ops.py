"""Operator commands: `check-deploy` (unsafe settings) and `purge` (data retention)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from quiz import deploy
from quiz.site import checks as site_checks
from quiz.taker import retention


@click.command("check-deploy")
@with_appcontext
def check_deploy() -> None:
    """List every setting that is unsafe for production or still a default; exit 1 if any."""
    found = deploy.problems(current_app.config, current_app.debug)
    found += site_checks.problems(current_app._get_current_object())  # type: ignore[attr-defined]
    found.sort(key=lambda problem: not problem.fatal)
    if not found:
        click.echo("ok: no unsafe settings")
        return
    for problem in found:
        click.echo(f"{'unsafe' if problem.fatal else 'warning'}: {problem}")
    click.echo(f"{len(found)} unsafe setting(s)", err=True)
    sys.exit(1)


@click.command("purge")
@with_appcontext
@click.option(
    "--optin-days",
    type=click.IntRange(min=1),
    default=None,
    help="Delete unconfirmed newsletter opt-ins older than this (default: QUIZ_OPTIN_DAYS).",
)
@click.option(
    "--anonymise-days",
    type=click.IntRange(min=1),
    default=None,
    help="Anonymise responses older than this (default: QUIZ_ANONYMISE_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
def purge(optin_days: int | None, anonymise_days: int | None, dry_run: bool) -> None:
    """Apply the retention periods: expire opt-ins, anonymise old responses; prints the counts."""
    optin_days = optin_days or current_app.config["QUIZ_OPTIN_DAYS"]
    anonymise_days = anonymise_days or current_app.config["QUIZ_ANONYMISE_DAYS"]
    try:
        report = retention.purge(optin_days, anonymise_days, dry_run=dry_run)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    prefix = "dry run, nothing changed; " if dry_run else ""
    click.echo(
        f"{prefix}unconfirmed opt-ins deleted (older than {optin_days} days): "
        f"{report.optins_deleted}"
    )
    click.echo(
        f"{prefix}responses anonymised (older than {anonymise_days} days): "
        f"{report.responses_anonymised}"
    )
    click.echo(f"{prefix}queued or sent emails deleted: {report.emails_deleted}")
    click.echo(
        f"{prefix}delivered or failed webhook events deleted (older than {anonymise_days} days): "
        f"{report.webhooks_deleted}"
    )


COMMANDS = [check_deploy, purge]
