"""`backup` and `restore` (issue 27, item 2): a consistent copy while takers finish, restored into an
empty database with the deletions since re-applied, refused where it would not fit.

Each test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL, where the restore goes into
a database of its own (a dump names its schema, so the target uses the same schema name).
"""

from __future__ import annotations

import json
import os
import stat
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from quiz import create_app, deletion_log
from quiz.app_state import get_content
from quiz.config import database_url
from quiz.database import begin_write
from quiz.extensions import db
from quiz.models import Answer, Consent, Response, utcnow
from quiz.ops import backup
from quiz.paths import resource_dir
from quiz.taker import rights
from tests.conftest import base_config
from tests.factories import finished_response
from tests.quizflow import complete_quiz

# Small on purpose: the round trip proves consistency, not speed (bench/backup.py does that).
BEFORE = 3


def _is_sqlite(app: Flask) -> bool:
    return str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite")


@pytest.fixture
def empty_app(app: Flask, tmp_path: Path) -> Iterator[Flask]:
    """An app like `app` on an empty database of the same engine, sharing its deletion log."""
    if _is_sqlite(app):
        uri = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        target = create_app({**base_config(uri, tmp_path), "SQLALCHEMY_DATABASE_URI": uri})
        yield target
        with target.app_context():
            db.engine.dispose()
        return
    source = make_url(database_url(str(app.config["SQLALCHEMY_DATABASE_URI"])))
    name = f"restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    uri = source.set(database=name).render_as_string(hide_password=False)
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    target = create_app(
        {
            **base_config(uri, tmp_path),
            "SQLALCHEMY_DATABASE_URI": uri,
            "SQLALCHEMY_ENGINE_OPTIONS": options,  # the same schema on the search path
        }
    )
    try:
        yield target
    finally:
        with target.app_context():
            db.session.remove()
            db.engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


class Takers:
    """A thread finishing quizzes one after another until stopped."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.finished = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                done = complete_quiz(
                    self.app.test_client(), self.app, email=f"t{self.finished}@example.com"
                )
                assert done.status_code == 302, done.status_code
                with self._progress:
                    self.finished += 1
                    self._progress.notify_all()
        except BaseException as exc:  # re-raised in the test's thread
            self.errors.append(exc)
            with self._progress:
                self._progress.notify_all()

    def wait_for(self, count: int) -> None:
        with self._progress:
            assert self._progress.wait_for(
                lambda: self.finished >= count or self.errors, timeout=120
            )
        assert not self.errors, self.errors[0]

    def __enter__(self) -> Takers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self.errors, self.errors[0]


def _finished_rows(app: Flask) -> dict[int, tuple[Any, ...]]:
    """Every finished response: its token, email, scores and number of answers."""
    with app.app_context():
        answers = (
            select(func.count())
            .select_from(Answer)
            .where(Answer.response_id == Response.id)
            .scalar_subquery()
        )
        rows = db.session.execute(
            select(
                Response.id,
                Response.result_token,
                Response.email,
                Response.bottleneck,
                Response.score_preise,
                answers,
            ).where(Response.status == "finished")
        ).all()
        return {row[0]: tuple(row[1:]) for row in rows}


def _one(app: Flask, response_id: int) -> Response | None:
    with app.app_context():
        response = db.session.get(Response, response_id)
        if response is not None:
            db.session.expunge(response)
        return response


def _marketing_withdrawn(app: Flask, response_id: int) -> bool:
    with app.app_context():
        return (
            db.session.scalar(
                select(Consent.withdrawn_at).where(
                    Consent.response_id == response_id, Consent.kind == "marketing"
                )
            )
            is not None
        )


def _backup(runner: FlaskCliRunner, folder: Path) -> Path:
    result = runner.invoke(args=["backup", str(folder)])
    assert result.exit_code == 0, result.output
    (written,) = folder.glob("engpass-quiz-*.zip")
    return written


def test_round_trip_while_takers_finish_keeps_everything_committed_and_nothing_deleted(
    app: Flask, runner: FlaskCliRunner, empty_app: Flask, tmp_path: Path
) -> None:
    first = app.test_client()
    complete_quiz(first, app, email="abmelden@example.com", consent_marketing="y")
    for number in range(1, BEFORE):
        complete_quiz(app.test_client(), app, email=f"vorher{number}@example.com")
    with app.app_context():
        begin_write()  # finished two days ago: the purge below anonymises it, today's would not
        oldest = db.session.scalar(select(func.min(Response.id)))
        db.session.execute(
            update(Response)
            .where(Response.id == oldest + 1)
            .values(finished_at=utcnow() - timedelta(days=2))
        )
        db.session.commit()
    assert runner.invoke(args=["rebuild-rollups"]).exit_code == 0  # count it on that day
    folder = tmp_path / "backups"
    folder.mkdir()
    with Takers(app) as takers:
        takers.wait_for(1)
        committed = _finished_rows(app)  # everything committed before the backup starts
        written = _backup(runner, folder)
        takers.wait_for(takers.finished + 1)  # and the takers went on while it ran
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert len(committed) >= BEFORE + 1

    # After the backup: one taker deletes their data, one unsubscribes, a purge anonymises.
    unsubscribed, purged, deleted = oldest, oldest + 1, oldest + 2
    with app.app_context():
        assert rights.unsubscribe(unsubscribed) == 1
        assert rights.delete_data(deleted)
    purge = runner.invoke(args=["purge", "--anonymise-days", "1"])
    assert "responses anonymised (older than 1 days): 1" in purge.output, purge.output

    result = empty_app.test_cli_runner().invoke(args=["restore", str(written)])
    assert result.exit_code == 0, result.output
    assert "every table's row count matches the manifest" in result.output
    assert "deleted again: 1, unsubscribed again: 1, purges re-run: 1" in result.output
    assert "differing before the rebuild: 0" in result.output
    assert "item statistics: 0 difference(s)" in result.output

    restored = _finished_rows(empty_app)
    expected = {rid: row for rid, row in committed.items() if rid not in {deleted, purged}}
    assert {rid: restored[rid] for rid in expected} == expected
    assert deleted not in restored and _one(empty_app, deleted) is None
    assert restored[purged][1] is None  # its email stays anonymised
    assert committed[purged][1] is not None
    assert _marketing_withdrawn(empty_app, unsubscribed)
    check = empty_app.test_cli_runner().invoke(args=["rebuild-rollups", "--check"])
    assert check.exit_code == 0, check.output


def test_the_deletion_log_survives_a_restore_and_applies_again(
    app: Flask, runner: FlaskCliRunner, empty_app: Flask, tmp_path: Path
) -> None:
    for number in range(2):
        finished_response(app, email=f"k{number}@example.com")
    written = _backup(runner, tmp_path)
    with app.app_context():
        gone = db.session.scalar(select(func.max(Response.id)))
        assert rights.delete_data(gone)
    target = empty_app.test_cli_runner()
    assert target.invoke(args=["restore", str(written)]).exit_code == 0
    assert _one(empty_app, gone) is None
    with empty_app.app_context():
        entries = deletion_log.entries()
    assert [entry.response_id for entry in entries if entry.kind == "deleted"] == [gone]
    # Restoring the same (older) backup once more: the log is still there and still applies.
    with empty_app.app_context():
        db.session.remove()
        db.drop_all()
        db.session.execute(text("DROP TABLE alembic_version"))
        db.session.commit()
    again = target.invoke(args=["restore", str(written)])
    assert again.exit_code == 0, again.output
    assert "deleted again: 1" in again.output
    assert _one(empty_app, gone) is None


def test_restore_refuses_a_backup_of_another_schema_revision(
    app: Flask, runner: FlaskCliRunner, empty_app: Flask, tmp_path: Path
) -> None:
    finished_response(app)
    written = _backup(runner, tmp_path)
    scripts = ScriptDirectory(str(resource_dir("migrations")))
    head = scripts.get_current_head()
    assert head is not None
    before = scripts.get_revision(head).down_revision
    older = _rewrite_manifest(written, lambda m: m.replace(f'"{head}"', f'"{before}"'))
    result = empty_app.test_cli_runner().invoke(args=["restore", str(older)])
    assert result.exit_code == 1
    assert "restore refused, nothing was changed" in result.output
    assert f"the backup has schema revision '{before}', this code expects '{head}'" in result.output
    with empty_app.app_context():
        assert db.inspect(db.engine).get_table_names() == []


def test_demo_takers_restore_but_a_real_takers_unknown_content_version_is_refused(
    app: Flask, runner: FlaskCliRunner, empty_app: Flask, tmp_path: Path
) -> None:
    # Demo takers answer a made-up earlier content version on purpose (quiz.coach.demo_takers).
    assert runner.invoke(args=["seed-demo", "40", "--seed", "3"]).exit_code == 0
    finished_response(app)
    written = _backup(runner, tmp_path)
    with zipfile.ZipFile(written) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    real = manifest["content_versions"]["in_real_takers_responses"]
    assert real == {get_content(app).version: 1}
    unknown = _rewrite_manifest(
        written, lambda text: text.replace(f'"{get_content(app).version}": 1', '"2019.1": 1')
    )
    target = empty_app.test_cli_runner()
    refused = target.invoke(args=["restore", str(unknown), "--without-deletion-log"])
    assert refused.exit_code == 1
    assert "scored with content version(s) 2019.1, which this app does not have" in refused.output
    done = target.invoke(args=["restore", str(written), "--without-deletion-log"])
    assert done.exit_code == 0, done.output
    assert "differing before the rebuild: 0" in done.output


def test_restore_refuses_a_database_that_has_tables(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    finished_response(app)
    written = _backup(runner, tmp_path)
    before = _finished_rows(app)
    result = runner.invoke(args=["restore", str(written)])
    assert result.exit_code == 1
    assert "already has tables: a restore goes into an empty database only" in result.output
    assert _finished_rows(app) == before


def test_restore_refuses_a_damaged_copy(
    app: Flask, runner: FlaskCliRunner, empty_app: Flask, tmp_path: Path
) -> None:
    finished_response(app)
    written = _backup(runner, tmp_path)
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename != "manifest.json":
                data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
            target.writestr(info, data)
    result = empty_app.test_cli_runner().invoke(
        args=["restore", str(damaged), "--without-deletion-log"]
    )
    assert result.exit_code == 1
    assert "does not match its checksum (the file is damaged)" in result.output
    with empty_app.app_context():
        assert db.inspect(db.engine).get_table_names() == []


def test_restore_wants_the_deletion_log_unless_told_there_never_was_one(
    app: Flask, runner: FlaskCliRunner, empty_app: Flask, tmp_path: Path
) -> None:
    finished_response(app)
    written = _backup(runner, tmp_path)
    target = empty_app.test_cli_runner()
    log = Path(empty_app.config["QUIZ_DELETION_LOG"])
    assert not log.exists()
    refused = target.invoke(args=["restore", str(written)])
    assert refused.exit_code == 1
    assert f"there is no deletion log at {log}" in refused.output
    done = target.invoke(args=["restore", str(written), "--without-deletion-log"])
    assert done.exit_code == 0, done.output
    assert "no deletion log at" in done.output


def _rewrite_manifest(path: Path, change: Any) -> Path:
    changed = path.with_name("changed.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(changed, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "manifest.json":
                data = change(data.decode()).encode()
            target.writestr(info, data)
    return changed


# --- the file itself -----------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_the_backup_file_is_readable_by_its_owner_only_whatever_the_umask(
    app: Flask, tmp_path: Path
) -> None:
    previous = os.umask(0)
    try:
        with app.app_context():
            result = backup.write(tmp_path / "copy.zip")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "deletion-log.jsonl") == [
        "copy.zip",
        "quiz.sqlite3",
    ]  # no copy or partial file left behind
    with zipfile.ZipFile(result.path) as archive:
        assert sorted(archive.namelist()) == ["database.sqlite3", "manifest.json"]
        assert all(info.external_attr >> 16 == 0o600 for info in archive.infolist())


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_keep_deletes_only_the_oldest_backups_and_a_copy_of_the_deletion_log_goes_beside(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(args=["purge"]).exit_code == 0  # the deletion log has a line now
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a backup")
    nights = [datetime(2030, 1, day, 3, 15, tzinfo=UTC) for day in (1, 2, 3)]
    with app.app_context():
        for night in nights:
            result = backup.write(folder, keep=2, now=night)
        assert result.removed == (folder / backup.backup_name(nights[0]),)
        assert sorted(p.name for p in folder.glob("engpass-quiz-*")) == [
            backup.backup_name(night) for night in nights[1:]
        ]
        assert (folder / "notes.txt").exists()
        with pytest.raises(backup.BackupError, match="never overwrites"):
            backup.write(result.path)
    log_copy = folder / "deletion-log.jsonl"
    assert log_copy.read_bytes() == Path(app.config["QUIZ_DELETION_LOG"]).read_bytes()
    assert stat.S_IMODE(log_copy.stat().st_mode) == 0o600
