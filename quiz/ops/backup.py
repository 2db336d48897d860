"""Write a backup: a consistent copy of the database and its manifest, in one file only we read.

The file is a ZIP archive of two members: the database copy (`database.sqlite3`, deflated, or
`database.pgdump`, pg_dump's custom format, compressed already) and `manifest.json`
(quiz.ops.manifest). It is created with mode 0600 under a temporary name in the target folder
and linked to its final name only when complete and synced, so a crash never leaves a
half-written file that looks like a backup, and an existing file is never overwritten. Given a
folder, the file is named by the time (`engpass-quiz-YYYYMMDDTHHMMSSZ.zip`), `keep` deletes the
oldest backups there beyond that many, only after the new one is safely written, and a copy of
the deletion log goes beside them (a restore on another server needs it too).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO

from sqlalchemy import create_engine

from quiz import deletion_log
from quiz.extensions import db
from quiz.models import utcnow
from quiz.ops import postgres, sqlite
from quiz.ops.manifest import NAME, Contents, Manifest, known_content, read_contents

PREFIX = "engpass-quiz-"
SUFFIX = ".zip"
# Fast deflate. Measured on 150 MB of a 100,000-taker SQLite database: level 1 leaves 28.2 % of
# it in 1.1 s of CPU, level 6 24.5 % in 2.5 s; the smaller file is not worth twice the time.
SQLITE_LEVEL = 1
CHUNK = 1 << 20


class BackupError(Exception):
    """The backup could not be written; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    """The file written, its size, how long it took, what it holds, and the backups removed."""

    path: Path
    size: int
    seconds: float
    manifest: Manifest
    removed: tuple[Path, ...] = ()


def write(target: Path, keep: int | None = None, now: datetime | None = None) -> BackupResult:
    """Back the app's database up into `target` (a new file, or a folder to name one in)."""
    started = time.perf_counter()
    path = target / backup_name(now or utcnow()) if target.is_dir() else target
    if keep is not None and not target.is_dir():
        raise BackupError(f"--keep needs a folder to keep backups in; {target} is not one")
    if path.exists():
        raise BackupError(f"{path} exists already; a backup never overwrites a file")
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist")
    engine = db.engine
    with (
        _new_file(path) as handle,
        zipfile.ZipFile(
            handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=SQLITE_LEVEL
        ) as archive,
    ):
        if engine.dialect.name == "sqlite":
            manifest = _sqlite(archive, sqlite.database_path(engine.url), path.parent)
        elif engine.dialect.name == "postgresql":
            manifest = _postgres(archive)
        else:
            raise BackupError(f"cannot back up a {engine.dialect.name} database")
        archive.writestr(NAME, manifest.to_json())
    if target.is_dir():
        _copy_deletion_log(target)
    removed = rotate(target, keep) if keep is not None else ()
    return BackupResult(
        path=path,
        size=path.stat().st_size,
        seconds=time.perf_counter() - started,
        manifest=manifest,
        removed=removed,
    )


def backup_name(now: datetime) -> str:
    """A backup's file name in a folder: sorts by time."""
    return f"{PREFIX}{now:%Y%m%dT%H%M%SZ}{SUFFIX}"


def rotate(folder: Path, keep: int) -> tuple[Path, ...]:
    """Delete the oldest backups in `folder` beyond the newest `keep`; the ones deleted."""
    backups = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))
    old = tuple(backups[: max(len(backups) - keep, 0)])
    for path in old:
        path.unlink()
    return old


def _copy_deletion_log(folder: Path) -> None:
    """A copy of the deletion log beside the backups, so one off-site copy of the folder
    carries both: a restore on a new server needs the log as much as the backup."""
    log = deletion_log.log_path()
    if not log.exists():
        return
    fd, name = tempfile.mkstemp(prefix=f".{log.name}.", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as copy, log.open("rb") as source:
            shutil.copyfileobj(source, copy)
            copy.flush()
            os.fsync(copy.fileno())
        os.replace(name, folder / log.name)
    finally:
        Path(name).unlink(missing_ok=True)


def _sqlite(archive: zipfile.ZipFile, database: Path, scratch: Path) -> Manifest:
    # The copy holds personal data: mode 0600 (mkstemp's), beside the backup, gone at the end.
    fd, name = tempfile.mkstemp(prefix=".engpass-quiz-copy-", dir=scratch)
    os.close(fd)
    copy = Path(name)
    try:
        sqlite.copy_online(database, copy)
        engine = create_engine(f"sqlite:///{copy}")
        try:
            with engine.connect() as connection:
                contents = read_contents(connection)
        finally:
            engine.dispose()
        with (
            copy.open("rb") as source,
            archive.open("database.sqlite3", "w", force_zip64=True) as member,
        ):
            hashing = _Hashing(member)
            while chunk := source.read(CHUNK):
                hashing.write(chunk)
    finally:
        copy.unlink(missing_ok=True)
    return _manifest(
        "sqlite", None, contents, "database.sqlite3", hashing.size, hashing.hexdigest()
    )


def _postgres(archive: zipfile.ZipFile) -> Manifest:
    url = db.engine.url
    with postgres.snapshot(db.engine) as (connection, snapshot_id):
        schema = postgres.current_schema(connection)
        if schema is None:
            raise BackupError("the database connection has no schema to back up")
        contents = read_contents(connection, schema)
        # Stored as it is: pg_dump's custom format is compressed already.
        info = zipfile.ZipInfo("database.pgdump", date_time=utcnow().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16  # unzip gives the extracted copy the same mode
        with archive.open(info, "w", force_zip64=True) as member:
            hashing = _Hashing(member)
            postgres.dump(url, schema, snapshot_id, hashing.write)
    return _manifest(
        "postgresql", schema, contents, "database.pgdump", hashing.size, hashing.hexdigest()
    )


def _manifest(
    engine: str, schema: str | None, contents: Contents, name: str, size: int, digest: str
) -> Manifest:
    return Manifest(
        engine=engine,
        schema=schema,
        contents=contents,
        payload_name=name,
        payload_bytes=size,
        payload_sha256=digest,
        known_content=known_content(),
    )


class _Hashing:
    """A writable stream that counts and hashes what passes through to `out`."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> int:
        self._sha.update(chunk)
        self.size += len(chunk)
        return self._out.write(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


@contextlib.contextmanager
def _new_file(path: Path) -> Iterator[BinaryIO]:
    """A new file with mode 0600, under its final name only once complete and synced."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)  # never replaces a file that appeared meanwhile
        except FileExistsError:
            raise BackupError(f"{path} appeared while the backup was written") from None
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        draft.unlink(missing_ok=True)
