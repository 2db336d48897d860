"""`render-pdfs`: render the queued PDFs, once or continuously (quiz.taker.pdf_background)."""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from quiz.taker import pdf_background


@click.command("render-pdfs")
@click.option("--watch", "keep_watching", is_flag=True, help="Keep rendering until stopped.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between two looks at the queue (with --watch).",
)
@with_appcontext
def render_pdfs_command(keep_watching: bool, interval: float) -> None:
    """Render the PDFs queued by finished quizzes (once, or with --watch until stopped)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as its object
    if keep_watching:
        click.echo(f"Rendering PDFs, looking every {interval:g} s; stop with Ctrl+C.")
        stop = threading.Event()

        def stopping(_signal: int, _frame: FrameType | None) -> None:
            stop.set()  # systemd's stop: give the claims back, then end

        signal.signal(signal.SIGTERM, stopping)
        with contextlib.suppress(KeyboardInterrupt):
            pdf_background.watch(app, interval, stop)
        return
    report = pdf_background.render_due(app)
    click.echo(
        f"rendered: {report.rendered}, failed: {report.failed}, "
        f"already stored: {report.already_stored}"
    )


COMMANDS = [render_pdfs_command]
