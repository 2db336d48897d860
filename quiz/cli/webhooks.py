"""`send-webhooks` and `webhooks add|list|remove`: thin commands over the services."""

from __future__ import annotations

import contextlib

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from quiz.webhooks import endpoints, sender
from quiz.webhooks.guard import BlockedURL
from quiz.webhooks.queue import EVENT_TYPES


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]  # Flask types the proxy as its object


@click.command("send-webhooks")
@click.option("--watch", "keep_watching", is_flag=True, help="Keep delivering until stopped.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between two looks at the queue (with --watch).",
)
@with_appcontext
def send_webhooks_command(keep_watching: bool, interval: float) -> None:
    """Deliver the webhooks that are due (once, or with --watch until stopped)."""
    app = _app()
    if keep_watching:
        click.echo(f"Delivering webhooks every {interval:g} s; stop with Ctrl+C.")
        with contextlib.suppress(KeyboardInterrupt):
            sender.watch(app, interval)
        return
    report = sender.deliver_due(app)
    click.echo(
        f"delivered: {report.delivered}, "
        f"retried later: {report.retried + report.postponed + report.released}, "
        f"failed: {report.failed}"
    )


webhooks_group = AppGroup("webhooks", help="Manage the endpoints that receive signed webhooks.")


@webhooks_group.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="An event to send (repeat for several; default: all).",
)
@click.option("--description", default="", help="A note for the settings page.")
def add_command(url: str, events: tuple[str, ...], description: str) -> None:
    """Add an endpoint and print its signing secret (shown this once)."""
    try:
        endpoint, secret = endpoints.add_endpoint(url, events or EVENT_TYPES, description)
    except (BlockedURL, endpoints.EndpointError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"endpoint {endpoint.id}: {endpoint.url}")
    click.echo(f"events: {', '.join(endpoint.events)}")
    click.echo(f"secret: {secret}")
    click.echo("Keep the secret now: it is not shown again.", err=True)


@webhooks_group.command("list")
def list_command() -> None:
    """List the endpoints (never their secrets)."""
    rows = endpoints.list_endpoints()
    if not rows:
        click.echo("no endpoints")
    for endpoint in rows:
        state = "enabled" if endpoint.enabled else "disabled"
        click.echo(f"{endpoint.id}\t{state}\t{endpoint.url}\t{','.join(endpoint.events)}")


@webhooks_group.command("remove")
@click.argument("endpoint_id", type=int)
def remove_command(endpoint_id: int) -> None:
    """Delete an endpoint and its delivery log."""
    if not endpoints.delete_endpoint(endpoint_id):
        raise click.ClickException(f"there is no endpoint {endpoint_id}")
    click.echo(f"endpoint {endpoint_id} removed")


COMMANDS = [send_webhooks_command, webhooks_group]
