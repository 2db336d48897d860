"""`send-mail`: deliver the emails that are due, once or continuously."""

from __future__ import annotations

import contextlib
import json

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from quiz.mail import listing
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


@click.group("mail")
def mail_group() -> None:
    """Look into the outbox."""


@mail_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of objects.")
@click.option("--status", type=click.Choice(listing.STATUSES), help="Only messages in this state.")
@click.option(
    "--kind",
    help="Only messages of this kind (result, optin, followup, reassess, coach_alert, new_lead).",
)
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@with_appcontext
def list_command(as_json: bool, status: str | None, kind: str | None, limit: int) -> None:
    """List outbox messages, oldest due first (the recipient's domain only, never the address)."""
    rows = listing.messages(status=status, kind=kind, limit=limit)
    if as_json:
        click.echo(json.dumps([row.to_json() for row in rows], ensure_ascii=False))
        return
    for row in rows:
        data = row.to_json()
        click.echo(
            f"{data['id']:>8}  {row.kind:<12} {row.status:<9} {data['due_at']}  "
            f"response {row.response_id or '-'}  @{row.recipient_domain}"
        )
    click.echo(f"{len(rows)} message(s)")


COMMANDS = [send_mail_command, mail_group]
