"""`backup` and `restore`: a consistent copy of the database while the site runs, and back."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from quiz.cli.coach import rebuild_rollups
from quiz.ops import backup, postgres, replay, restore
from quiz.ops.manifest import ManifestError


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    envvar="QUIZ_BACKUP_KEEP",
    default=None,
    help="With a folder as PATH: keep only the newest N backups there (default: all).",
)
def backup_command(path: Path, keep: int | None) -> None:
    """Write a backup of the database to PATH (a new file, or a folder to name one in)."""
    try:
        result = backup.write(path, keep)
    except (backup.BackupError, postgres.ToolError, ManifestError, OSError) as exc:
        raise click.ClickException(f"backup failed: {exc}") from exc
    contents = result.manifest.contents
    click.echo(
        f"backup written: {result.path} ({result.size / 1e6:.1f} MB in {result.seconds:.1f} s)"
    )
    click.echo(
        f"schema revision {contents.schema_revision}, "
        f"{contents.row_counts.get('responses', 0)} responses in {len(contents.row_counts)} "
        f"tables, sha256 {result.manifest.payload_sha256}"
    )
    for old in result.removed:
        click.echo(f"removed the older backup {old.name} (keeping {keep})")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--without-deletion-log",
    "without_log",
    is_flag=True,
    help="Restore although there is no deletion log (only for a site that never had one).",
)
@click.pass_context
def restore_command(context: click.Context, path: Path, without_log: bool) -> None:
    """Restore the backup at PATH into the app's empty database, then re-apply the deletions."""
    try:
        result = restore.restore(path, without_log=without_log)
    except restore.RestoreRefused as exc:
        reasons = "\n".join(f"  - {reason}" for reason in exc.reasons)
        raise click.ClickException(f"restore refused, nothing was changed:\n{reasons}") from exc
    except (restore.RestoreFailed, postgres.ToolError, OSError) as exc:
        raise click.ClickException(f"restore failed: {exc}") from exc
    manifest = result.manifest
    click.echo(
        f"restored {path.name} (written {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"schema revision {manifest.contents.schema_revision}) in {result.seconds:.1f} s; "
        "every table's row count matches the manifest"
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}")
    _report_replay(result.replayed)
    # The counters must agree with the rows, as after any write (exits 1 if they do not).
    click.echo(
        "checking the dashboard counters (rebuild-rollups --check; it reads every answer, "
        "about a minute per 100,000 takers):"
    )
    context.invoke(rebuild_rollups, check=True)


def _report_replay(report: replay.ReplayReport) -> None:
    if report.log_exists:
        click.echo(
            f"deletion log {report.log}: {report.entries} entries; deleted again: "
            f"{report.deleted}, unsubscribed again: {report.unsubscribed}, purges re-run: "
            f"{report.purges}"
        )
    else:
        click.echo(f"no deletion log at {report.log} (restored --without-deletion-log)")
    today = report.retention
    click.echo(
        f"retention applied: {today.responses_anonymised} responses anonymised, "
        f"{today.optins_deleted} unconfirmed opt-ins deleted"
    )


COMMANDS = [backup_command, restore_command]
