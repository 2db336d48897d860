"""`send-mail`: deliver the emails that are due, once or continuously."""

from __future__ import annotations

import contextlib

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from quiz.mail.sender import deliver_due, watch


@click.command("send-mail")
@click.option("--watch", "keep_watching", is_flag=True, help="Keep delivering until stopped.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between two looks at the outbox (with --watch).",
)
@with_appcontext
def send_mail_command(keep_watching: bool, interval: float) -> None:
    """Deliver the emails that are due (once, or with --watch until stopped)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as its object
    if keep_watching:
        click.echo(f"Delivering emails every {interval:g} s; stop with Ctrl+C.")
        with contextlib.suppress(KeyboardInterrupt):
            watch(app, interval)
        return
    report = deliver_due(app)
    click.echo(f"sent: {report.sent}, retried later: {report.retried}, failed: {report.failed}")
    if report.paused_until is not None:
        click.echo(
            f"paused: the SMTP server cannot be used; {report.waiting} waiting uncharged, "
            f"next try at {report.paused_until.isoformat(timespec='seconds')}"
        )


COMMANDS = [send_mail_command]
