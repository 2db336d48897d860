"""`settings show [--json]` and `settings set KEY VALUE [--file PATH]`: the site settings from the
command line (for scripts and tests), through the same checks as the coach's settings page."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from quiz.site import settings as site_settings
from quiz.site.logo import KEY as LOGO_KEY
from quiz.site.value_checks import SettingError

settings_group = AppGroup("settings", help="Show and change the site settings.")


def _flat() -> dict[str, str | bool]:
    """Every setting as the JSON shows it: the logo as the path it is served at."""
    current = site_settings.current()
    values: dict[str, str | bool] = dict(current.values)
    if current.logo is not None:
        # The path it is served at; no request here, so built from the URL map directly.
        adapter = current_app.url_map.bind("localhost")
        values[LOGO_KEY] = adapter.build("site.asset", {"filename": current.logo.filename})
    else:
        values[LOGO_KEY] = ""
    return {key: values[key] for key in site_settings.all_keys()}


@settings_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="One flat JSON object, key by key.")
def show_command(as_json: bool) -> None:
    """Print every setting (defaults included)."""
    values = _flat()
    if as_json:
        click.echo(json.dumps(values, ensure_ascii=False, sort_keys=False))
        return
    for key, value in values.items():
        shown = ("true" if value else "false") if isinstance(value, bool) else value
        click.echo(f"{key} = {json.dumps(shown, ensure_ascii=False)}")


@settings_group.command("set")
@click.argument("key")
@click.argument("value", required=False, default=None)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the value from a file: a multi-line text, or the logo image.",
)
def set_command(key: str, value: str | None, path: Path | None) -> None:
    """Change one setting; an empty VALUE restores its default. Exit 1 on a bad value."""
    if (value is None) == (path is None) and not (value == "" and path is None):
        raise click.UsageError("give either VALUE or --file PATH")
    try:
        if key == LOGO_KEY:
            if path is None and value:
                raise SettingError(key, "Das Logo wird mit --file PFAD gesetzt (PNG oder JPEG).")
            if path is None:
                site_settings.remove_logo("cli")
            else:
                site_settings.set_logo(path.read_bytes(), "cli")
        else:
            raw = path.read_text(encoding="utf-8") if path is not None else (value or "")
            site_settings.update({key: raw}, "cli")
    except SettingError as error:
        raise click.ClickException(f"{error.key}: {error.message}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(
            f"{key}: Die Datei kann nicht gelesen werden ({error})."
        ) from None
    shown = _flat()[key]
    click.echo(f"{key} = {json.dumps(shown, ensure_ascii=False)}")


COMMANDS = (settings_group,)
