"""PostgreSQL's side of a backup: `pg_dump` of one snapshot while the site writes, `pg_restore`.

The backup opens a REPEATABLE READ transaction, exports its snapshot and hands it to `pg_dump
--snapshot`, so the dump and the manifest's row counts (read in that same transaction) show the
database at the same instant; the takers' writes go on meanwhile and land after it. Only the
schema the app's tables live in is dumped (`--schema`), in pg_dump's custom format (compressed,
restorable table by table). The dump names that schema in every statement, so a restore goes
into a database where the app's connection uses the same schema (`public`, normally).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

CHUNK = 1 << 20
# pg_dump waits this long for a table lock (a migration running) before it gives up.
LOCK_WAIT = "60s"


class ToolError(Exception):
    """pg_dump or pg_restore is missing or failed; the message quotes what it said."""


@contextlib.contextmanager
def snapshot(engine: Engine) -> Iterator[tuple[Connection, str]]:
    """A read-only REPEATABLE READ transaction and the id of its exported snapshot."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            exported = connection.scalar(text("SELECT pg_export_snapshot()"))
            yield connection, str(exported)


def current_schema(connection: Connection) -> str | None:
    """The schema unqualified names go to on this connection (None when it does not exist)."""
    value = connection.scalar(text("SELECT current_schema()"))
    return str(value) if value is not None else None


def has_tables(connection: Connection, schema: str) -> bool:
    """Whether the schema holds any table, sequence or view."""
    found = connection.scalar(
        text(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'S', 'v', 'm')"
        ),
        {"schema": schema},
    )
    return bool(found)


def dump(url: URL, schema: str, snapshot_id: str, write: Callable[[bytes], object]) -> None:
    """Stream `pg_dump` of `schema` at the exported snapshot to `write`."""
    command = [
        _tool("pg_dump"),
        "--format=custom",
        f"--schema={schema}",
        f"--snapshot={snapshot_id}",
        f"--lock-wait-timeout={LOCK_WAIT}",
        f"--dbname={_libpq_uri(url)}",
    ]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 -- a fixed tool, arguments from our own config
            command, stdout=subprocess.PIPE, stderr=errors, env=_libpq_env(url)
        )
        assert process.stdout is not None
        with process.stdout:
            while chunk := process.stdout.read(CHUNK):
                write(chunk)
        if process.wait() != 0:
            errors.seek(0)
            raise ToolError(f"pg_dump failed: {errors.read().decode(errors='replace').strip()}")


def restore(url: URL, schema: str, dump_file: Path) -> None:
    """`pg_restore` the dump into the (empty) schema, all in one transaction."""
    command = [
        _tool("pg_restore"),
        "--single-transaction",
        "--exit-on-error",
        # Roles differ between servers: the restored objects belong to whoever restores them.
        "--no-owner",
        "--no-privileges",
        f"--schema={schema}",
        f"--dbname={_libpq_uri(url)}",
        str(dump_file),
    ]
    run = subprocess.run(  # noqa: S603 -- a fixed tool, arguments from our own config
        command, capture_output=True, env=_libpq_env(url), check=False
    )
    if run.returncode != 0:
        raise ToolError(f"pg_restore failed: {run.stderr.decode(errors='replace').strip()}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolError(
            f"{name} was not found: install the PostgreSQL client tools "
            "(Debian: postgresql-client, of the server's major version or newer)"
        )
    return found


def _libpq_uri(url: URL) -> str:
    """The app's database URL as libpq takes it; the password goes through the environment."""
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _libpq_env(url: URL) -> dict[str, str]:
    """The environment for the tool: the password out of the command line (and `ps`)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env
