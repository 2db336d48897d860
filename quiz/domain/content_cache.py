"""Checked content kept on disk between processes, keyed by the file's bytes and the loader's code.

ruamel's round-trip parser, which gives every error its line, costs about 0.4 s of CPU per content
file, and every process parses every version at start: each gunicorn worker, each sender, each
command. A file that passed every check is stored as the model's JSON under a key made of its
bytes, the rules it was checked with (current or archived) and the source of the modules that
load and check it; a change to any of them is another key, so an entry is never stale. Only files
that passed are stored: a broken file is parsed, and refused with its lines, every time.

The folder is the app's cache (`XDG_CACHE_HOME`, which the systemd units point at
/var/cache/engpass-quiz); a missing, unwritable or damaged entry only means parsing again. An
entry is read back through the model's validation, never unpickled.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pydantic
from pydantic import ValidationError

from quiz.domain.content_model import Content

# The modules whose code decides what a file parses into and whether it passes.
_LOADER_MODULES = ("content.py", "content_model.py", "content_checks.py", "content_rules.py")


@functools.cache
def loader_fingerprint() -> str:
    """A digest of the loading and checking code (and pydantic's version), read once a process."""
    digest = hashlib.sha256(pydantic.VERSION.encode())
    here = Path(__file__).resolve().parent
    for name in _LOADER_MODULES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def default_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where this user's caches go: `$XDG_CACHE_HOME/engpass-quiz/content` (~/.cache by default)."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "engpass-quiz" / "content"


def cached(
    parse: Callable[[bytes, str], Content],
    raw_bytes: bytes,
    label: str,
    *,
    current: bool,
    cache_dir: Path | None,
) -> Content:
    """`parse(raw_bytes, label)`, or the stored result of the same bytes checked the same way."""
    if cache_dir is None:
        return parse(raw_bytes, label)
    key = hashlib.sha256(
        b"%s\0%d\0%s" % (loader_fingerprint().encode(), current, raw_bytes)
    ).hexdigest()
    if (cache_dir, key) in _read:  # every app a process builds (each test builds one) shares it
        return _read[cache_dir, key]
    entry = cache_dir / f"{key}.json"
    with contextlib.suppress(OSError, ValidationError):
        stored = Content.model_validate_json(entry.read_bytes())
        if stored.sha256 == hashlib.sha256(raw_bytes).hexdigest():
            return _remember(cache_dir, key, stored)
    content = parse(raw_bytes, label)  # raises ContentError for a broken file: nothing stored
    with contextlib.suppress(OSError):
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=cache_dir, delete=False) as temporary:
            temporary.write(content.model_dump_json().encode())
        os.replace(temporary.name, entry)  # whole or not at all, for a reader beside it
    return _remember(cache_dir, key, content)


# What this process has read or parsed, newest last: a few versions, a few folders.
_read: dict[tuple[Path, str], Content] = {}
_READ_LIMIT = 32


def _remember(cache_dir: Path, key: str, content: Content) -> Content:
    _read[cache_dir, key] = content
    while len(_read) > _READ_LIMIT:
        del _read[next(iter(_read))]
    return content
