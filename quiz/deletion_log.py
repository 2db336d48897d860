"""The deletion log: which responses were deleted or unsubscribed, and which purges ran.

A restore puts the database back as it was when the backup was taken; the taker's deletions and
unsubscriptions and the retention runs since then must hold again afterwards, or a restore would
bring back data someone had the right to have erased. So every such change also appends a line
to this file, and `flask --app quiz restore` replays it (quiz.ops.replay). The file lives in the
instance folder, apart from the database and from every backup of it, so restoring an older
backup cannot erase it.

It holds no personal data: a response's id and a keyed hash of its random draft token (enough to
tell the deleted response from a later one that was given the same id), or a purge's time and
periods. The key is the file's own first line: the hash only has to recognise a response, and a
key of its own survives a new SECRET_KEY. Lines are appended under an exclusive lock and synced,
so several web workers can write at once and a line, once written, survives a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from flask import current_app

from quiz.models import Response, utcnow

FORMAT = "engpass-quiz deletion log"
Kind = Literal["deleted", "unsubscribed", "purged"]

# Set while a restore replays the log: what it re-applies is already written down.
_replaying: ContextVar[bool] = ContextVar("deletion_log_replaying", default=False)


@dataclass(frozen=True)
class Entry:
    """One line of the log: a response deleted or unsubscribed, or a purge run."""

    kind: Kind
    at: datetime
    response_id: int | None = None
    key: str | None = None
    optin_days: int | None = None
    anonymise_days: int | None = None


def log_path() -> Path:
    """The current app's deletion log (QUIZ_DELETION_LOG, by default in the instance folder)."""
    return Path(current_app.config["QUIZ_DELETION_LOG"])


def record(kind: Literal["deleted", "unsubscribed"], response: Response) -> None:
    """Write down that this response was deleted or unsubscribed (call before committing).

    Written before the commit: should the commit fail, replaying the line later only does what
    the taker asked for.
    """
    if _replaying.get():
        return
    path = log_path()
    key = _digest(_key(path), response.draft_token)
    _append(path, {"kind": kind, "at": _iso(utcnow()), "id": response.id, "key": key})


def record_purge(now: datetime, optin_days: int, anonymise_days: int) -> None:
    """Write down a retention run: replaying it with the same `now` finds the same rows."""
    if _replaying.get():
        return
    path = log_path()
    _key(path)
    _append(
        path,
        {
            "kind": "purged",
            "at": _iso(now),
            "optin_days": optin_days,
            "anonymise_days": anonymise_days,
        },
    )


def entries(path: Path | None = None) -> list[Entry]:
    """Every entry in the order written; none when there is no log yet."""
    path = path or log_path()
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    _check_header(path, lines)
    found = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            found.append(
                Entry(
                    kind=raw["kind"],
                    at=datetime.fromisoformat(raw["at"]),
                    response_id=raw.get("id"),
                    key=raw.get("key"),
                    optin_days=raw.get("optin_days"),
                    anonymise_days=raw.get("anonymise_days"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a deletion log entry ({exc})") from None
    return found


def is_for(entry: Entry, draft_token: str, path: Path | None = None) -> bool:
    """Whether `entry` was written for the response with this draft token."""
    if entry.key is None:
        return False
    key = _read_key(path or log_path())
    return hmac.compare_digest(entry.key, _digest(key, draft_token))


@contextlib.contextmanager
def replaying() -> Iterator[None]:
    """While replaying the log, the changes it re-applies are not written down a second time."""
    token = _replaying.set(True)
    try:
        yield
    finally:
        _replaying.reset(token)


def _digest(key: bytes, draft_token: str) -> str:
    return hmac.new(key, draft_token.encode(), hashlib.sha256).hexdigest()


def _key(path: Path) -> bytes:
    """The log's key, creating the log (with its key as the first line) when there is none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps({"format": FORMAT, "version": 1, "key": secrets.token_hex(32)})
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (header + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        # A hard link never replaces a file: of two processes starting the log at once, the
        # first one's header stands and the other's draft is dropped.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
        _sync_dir(path.parent)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    with path.open(encoding="utf-8") as handle:
        first = handle.readline()
    _check_header(path, [first])
    return bytes.fromhex(json.loads(first)["key"])


def _check_header(path: Path, lines: list[str]) -> None:
    try:
        header = json.loads(lines[0]) if lines else {}
    except ValueError:
        header = {}
    if not isinstance(header, dict) or header.get("format") != FORMAT or "key" not in header:
        raise ValueError(f"{path}:1: not a deletion log of this app")


def _append(path: Path, line: dict[str, Any]) -> None:
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _iso(value: datetime) -> str:
    return value.isoformat()
