"""A backup's manifest: what the copy holds, and whether this app can take it back.

Written into every backup beside the database copy: the schema revision, the row count of every
table, the content versions the real takers' results were scored with (demo takers answer a
made-up earlier version on purpose) and the ones this app knew, and the copy's size and SHA-256.
A restore reads it before touching anything, refuses a backup this code cannot use (another
database engine, another schema revision, a content version it cannot show), and compares the
row counts once the copy is in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import Boolean, Connection, String, column, false, func, inspect, select, table

from quiz.app_state import VERSIONS_KEY
from quiz.domain.content import Content
from quiz.models import utcnow
from quiz.paths import resource_dir

FORMAT = "engpass-quiz backup"
FORMAT_VERSION = 1
NAME = "manifest.json"


class ManifestError(Exception):
    """The file is not a backup this app can restore; the message says why and what to do."""


@dataclass(frozen=True)
class Contents:
    """What a database holds, read inside one transaction (so it matches one snapshot)."""

    schema_revision: str | None
    row_counts: dict[str, int]
    # Real takers' responses per content version (demo takers answer made-up versions too).
    content_versions: dict[str, int]


@dataclass(frozen=True)
class Manifest:
    """Everything a restore checks before and after putting the copy in place."""

    engine: str  # "sqlite" or "postgresql"
    schema: str | None  # PostgreSQL: the schema the tables live in
    contents: Contents
    payload_name: str
    payload_bytes: int
    payload_sha256: str
    created_at: datetime = field(default_factory=utcnow)
    known_content: dict[str, str] = field(default_factory=dict)  # version -> sha256

    def to_json(self) -> str:
        """The manifest as written into the backup (stable key order, readable)."""
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at.isoformat(),
            "created_by": f"engpass-quiz {_app_version()}",
            "database": {"engine": self.engine, "schema": self.schema},
            "schema_revision": self.contents.schema_revision,
            "row_counts": self.contents.row_counts,
            "content_versions": {
                "in_real_takers_responses": self.contents.content_versions,
                "known_to_the_app": self.known_content,
            },
            "payload": {
                "name": self.payload_name,
                "bytes": self.payload_bytes,
                "sha256": self.payload_sha256,
            },
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse a manifest; ManifestError when it is not one of ours."""
        try:
            document = json.loads(raw)
            if document.get("format") != FORMAT:
                raise ManifestError("this file is not an Engpass-Quiz backup")
            if document.get("format_version") != FORMAT_VERSION:
                raise ManifestError(
                    f"the backup's format version {document.get('format_version')!r} is not "
                    f"{FORMAT_VERSION}: restore it with the release that wrote it"
                )
            versions = document["content_versions"]
            payload = document["payload"]
            return cls(
                engine=document["database"]["engine"],
                schema=document["database"]["schema"],
                contents=Contents(
                    schema_revision=document["schema_revision"],
                    row_counts={str(k): int(v) for k, v in document["row_counts"].items()},
                    content_versions={
                        str(k): int(v) for k, v in versions["in_real_takers_responses"].items()
                    },
                ),
                payload_name=str(payload["name"]),
                payload_bytes=int(payload["bytes"]),
                payload_sha256=str(payload["sha256"]),
                created_at=datetime.fromisoformat(document["created_at"]),
                known_content={str(k): str(v) for k, v in versions["known_to_the_app"].items()},
            )
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"the backup's manifest is damaged ({exc!r})") from None


def read_contents(connection: Connection, schema: str | None = None) -> Contents:
    """Schema revision, row counts and content versions, read on this connection."""
    names = sorted(inspect(connection).get_table_names(schema=schema))
    counts = {
        name: int(connection.scalar(select(func.count()).select_from(table(name, schema=schema))))
        for name in names
    }
    revision = None
    if "alembic_version" in names:
        revision = connection.scalar(
            select(column("version_num")).select_from(table("alembic_version", schema=schema))
        )
    versions: dict[str, int] = {}
    if "responses" in names:
        version = column("content_version", String)
        rows = connection.execute(
            select(version, func.count())
            .select_from(table("responses", schema=schema))
            .where(column("is_demo", Boolean) == false())
            .group_by(version)
        )
        versions = {str(name): int(count) for name, count in rows}
    return Contents(schema_revision=revision, row_counts=counts, content_versions=versions)


def head_revision() -> str:
    """The schema revision this code's migrations end at."""
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) != 1:
        raise ManifestError(f"the migrations have {len(heads)} heads; merge them first")
    return str(heads[0])


def known_content() -> dict[str, str]:
    """Every content version this app can render, with its file's SHA-256."""
    versions: dict[str, Content] = current_app.extensions[VERSIONS_KEY]
    return {version: content.sha256 for version, content in versions.items()}


def refusals(manifest: Manifest, engine: str) -> list[str]:
    """Why this app cannot take the backup back (empty when it can)."""
    found = []
    if manifest.engine != engine:
        found.append(
            f"the backup is of a {manifest.engine} database, this app uses {engine}: restore it "
            f"into a {manifest.engine} database"
        )
    head = head_revision()
    if manifest.contents.schema_revision != head:
        found.append(
            f"the backup has schema revision {manifest.contents.schema_revision!r}, this code "
            f"expects {head!r}: restore it with a release whose migrations end at "
            f"{manifest.contents.schema_revision!r}, then run this release's "
            "flask --app quiz db upgrade"
        )
    known = known_content()
    missing = sorted(set(manifest.contents.content_versions) - set(known))
    if missing:
        found.append(
            f"takers' results were scored with content version(s) {', '.join(missing)}, which "
            "this app does not have: put those versions' YAML files into content/archive/ first"
        )
    return found


def warnings(manifest: Manifest) -> list[str]:
    """What a restore may go on with, but the operator should know."""
    known = known_content()
    return [
        f"content version {version} differs from the backup's (the file changed without a "
        "version bump); its results show this app's texts"
        for version, sha256 in sorted(manifest.known_content.items())
        if version in known and known[version] != sha256
    ]


def _app_version() -> str:
    try:
        return metadata.version("engpass-quiz")
    except metadata.PackageNotFoundError:
        return "unknown"
