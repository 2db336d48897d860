"""Every `flask --app quiz ...` command, one module per area; each command is thin and calls a service."""

from __future__ import annotations

from flask import Flask

from quiz.cli import backup, coach, content, experiments, mail, ops, pdf, settings, stats, webhooks


def init_app(app: Flask) -> None:
    """Register every command on the app."""
    for module in (content, coach, mail, ops, backup, pdf, settings, stats, webhooks, experiments):
        for command in module.COMMANDS:
            app.cli.add_command(command)
