"""Restore a backup into an empty database, check it, and re-apply the deletions since.

Nothing is changed until every check has passed: the file is one of our backups, of this
database engine, at this code's schema revision, with content versions this app knows, its copy
is intact (size and SHA-256 as the manifest says), and the app's database holds no table yet.
Then the copy goes in (SQLite's backup API into the database file, or pg_restore in one
transaction), every table's row count is compared with the manifest, and the deletion log is
replayed (quiz.ops.replay) so that nothing deleted since the backup comes back.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from quiz import deletion_log
from quiz.extensions import db
from quiz.ops import postgres, replay, sqlite
from quiz.ops.manifest import NAME, Manifest, ManifestError, read_contents, refusals, warnings

CHUNK = 1 << 20


class RestoreRefused(Exception):
    """The backup cannot go into this database; nothing was changed. One line per reason."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class RestoreFailed(Exception):
    """The copy went in, but does not match its manifest; the message says how."""


@dataclass(frozen=True)
class RestoreResult:
    """The manifest restored from, its warnings, the time taken and what the replay did."""

    manifest: Manifest
    warnings: list[str]
    seconds: float
    replayed: replay.ReplayReport


def restore(path: Path, *, without_log: bool = False) -> RestoreResult:
    """Restore the backup at `path` into the app's (empty) database; RestoreRefused if not.

    Without a deletion log, deletions made after the backup could not be re-applied, so the
    restore is refused unless `without_log` says the site never had one.
    """
    started = time.perf_counter()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RestoreRefused([f"{path} is not an Engpass-Quiz backup ({exc})"]) from None
    with archive:
        try:
            manifest = Manifest.from_json(archive.read(NAME))
        except KeyError:
            raise RestoreRefused([f"{path} has no manifest: not an Engpass-Quiz backup"]) from None
        except ManifestError as exc:
            raise RestoreRefused([str(exc)]) from None
        engine = db.engine
        reasons = refusals(manifest, engine.dialect.name) or _occupied(manifest)
        log = deletion_log.log_path()
        if not without_log and not log.exists():
            reasons.append(
                f"there is no deletion log at {log}, so data deleted after the backup would "
                "come back: copy it from the old server's instance folder (or its off-site "
                "copy), or pass --without-deletion-log if this site never had one"
            )
        if reasons:
            raise RestoreRefused(reasons)
        with _extracted(archive, manifest, _scratch_folder()) as copy:
            if manifest.engine == "sqlite":
                sqlite.copy_back(copy, sqlite.database_path(engine.url))
            else:
                assert manifest.schema is not None
                _ensure_schema(manifest.schema)
                postgres.restore(engine.url, manifest.schema, copy)
    db.session.remove()
    engine.dispose()  # no pooled connection may remember the empty database
    _compare_counts(manifest)
    replayed = replay.replay()
    return RestoreResult(
        manifest=manifest,
        warnings=warnings(manifest),
        seconds=time.perf_counter() - started,
        replayed=replayed,
    )


def _occupied(manifest: Manifest) -> list[str]:
    """Why the app's database cannot take a restore: it holds tables already."""
    engine = db.engine
    if manifest.engine == "sqlite":
        target = sqlite.database_path(engine.url)
        occupied = sqlite.has_tables(target)
        where = str(target)
    else:
        with engine.connect() as connection:
            schema = postgres.current_schema(connection) or manifest.schema
            if schema != manifest.schema:
                return [
                    f"the backup's tables live in schema {manifest.schema!r}, the app's "
                    f"connection uses {schema!r}: point it at a database where that schema "
                    "is the first on the search path"
                ]
            assert schema is not None
            occupied = postgres.has_tables(connection, schema)
            where = f"schema {schema!r} of {engine.url.render_as_string(hide_password=True)}"
    if not occupied:
        return []
    return [
        f"the database ({where}) already has tables: a restore goes into an empty database only "
        "(create a new one, or delete this one after making sure it is not needed)"
    ]


def _scratch_folder() -> Path | None:
    """Where the extracted copy waits: beside a SQLite database (same disk), else the temp dir."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        return sqlite.database_path(engine.url).parent
    return None


@contextlib.contextmanager
def _extracted(archive: zipfile.ZipFile, manifest: Manifest, folder: Path | None) -> Iterator[Path]:
    """The backup's database copy as a file of its own (mode 0600), checked against the manifest."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".engpass-quiz-restore-", dir=folder) as scratch:
        copy = Path(scratch) / manifest.payload_name
        digest = hashlib.sha256()
        size = 0
        try:
            with archive.open(manifest.payload_name) as member, copy.open("wb") as out:
                while chunk := member.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise RestoreRefused([f"the backup's database copy cannot be read ({exc})"]) from None
        if size != manifest.payload_bytes or digest.hexdigest() != manifest.payload_sha256:
            raise RestoreRefused(
                [
                    "the backup's database copy does not match its checksum (the file is "
                    "damaged): restore another backup"
                ]
            )
        yield copy


def _ensure_schema(schema: str) -> None:
    """Create the backup's schema where the search path names it but it does not exist yet."""
    with db.engine.begin() as connection:
        if postgres.current_schema(connection) is not None:
            return
        quoted = '"' + schema.replace('"', '""') + '"'
        connection.exec_driver_sql(f"CREATE SCHEMA {quoted}")
        if postgres.current_schema(connection) != schema:
            # Rolled back as the block ends with the exception.
            raise RestoreRefused(
                [
                    f"the app's connection does not use schema {schema!r}, which the backup's "
                    "tables live in: put it first on the search path"
                ]
            )


def _compare_counts(manifest: Manifest) -> None:
    with db.engine.connect() as connection:
        schema = manifest.schema if manifest.engine == "postgresql" else None
        restored = read_contents(connection, schema)
    expected = manifest.contents.row_counts
    differing = {
        name: (expected.get(name), restored.row_counts.get(name))
        for name in expected.keys() | restored.row_counts.keys()
        if expected.get(name) != restored.row_counts.get(name)
    }
    if differing:
        listed = ", ".join(
            f"{name}: {want} in the manifest, {got} restored"
            for name, (want, got) in sorted(differing.items())
        )
        raise RestoreFailed(f"the restored tables do not match the manifest ({listed})")
