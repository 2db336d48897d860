"""The deletion log (quiz.deletion_log): written by the data rights and the purge, holding no
personal data, safe with several writers, and never taking a later response for a deleted one."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from quiz import deletion_log
from quiz.extensions import db
from quiz.models import Response
from quiz.ops import replay
from quiz.taker import rights
from tests.quizflow import complete_quiz


def _finished(app: Flask, email: str, **lead: str) -> Response:
    complete_quiz(app.test_client(), app, email=email, **lead)
    with app.app_context():
        response = db.session.scalars(select(Response).order_by(Response.id.desc())).first()
        assert response is not None
        db.session.expunge(response)
        return response


def test_deleting_unsubscribing_and_purging_are_logged_without_personal_data(
    app: Flask, runner: FlaskCliRunner
) -> None:
    kept = _finished(app, "bleibt@example.com", first_name="Berta", consent_marketing="y")
    gone = _finished(app, "geht@example.com", first_name="Gisela")
    with app.app_context():
        rights.unsubscribe(kept.id)
        rights.delete_data(gone.id)
    assert runner.invoke(args=["purge"]).exit_code == 0
    path = Path(app.config["QUIZ_DELETION_LOG"])
    with app.app_context():
        entries = deletion_log.entries()
        assert [(e.kind, e.response_id) for e in entries] == [
            ("unsubscribed", kept.id),
            ("deleted", gone.id),
            ("purged", None),
        ]
        assert deletion_log.is_for(entries[1], gone.draft_token)
        assert not deletion_log.is_for(entries[1], kept.draft_token)
        assert (entries[2].optin_days, entries[2].anonymise_days) == (30, 365)
    text = path.read_text(encoding="utf-8")
    for secret in (
        "geht@example.com",
        "bleibt@example.com",
        "Gisela",
        "Berta",
        gone.draft_token,
        gone.result_token,
        kept.draft_token,
    ):
        assert secret not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_replay_spares_a_later_response_that_was_given_the_deleted_ones_id(app: Flask) -> None:
    gone = _finished(app, "geht@example.com")
    with app.app_context():
        assert rights.delete_data(gone.id)
    # SQLite gives the next row the highest id plus one: the deleted response's id again.
    later = _finished(app, "neu@example.com")
    assert later.id == gone.id and later.draft_token != gone.draft_token
    with app.app_context():
        report = replay.replay()
        assert (report.entries, report.deleted) == (1, 0)
        assert db.session.get(Response, later.id) is not None


def test_a_deletion_that_cannot_be_logged_does_not_happen(app: Flask, tmp_path: Path) -> None:
    response = _finished(app, "geht@example.com")
    (tmp_path / "blocked").write_text("a file where the log's folder should be")
    app.config["QUIZ_DELETION_LOG"] = str(tmp_path / "blocked" / "deletion-log.jsonl")
    with app.app_context():
        with pytest.raises(OSError):
            rights.delete_data(response.id)
        db.session.rollback()
        assert db.session.get(Response, response.id) is not None


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # the file only: one engine will do
def test_writers_at_the_same_time_each_keep_their_lines(app: Flask) -> None:
    def write(worker: int) -> None:
        with app.app_context():
            for number in range(25):
                fake = Response(id=worker * 100 + number, draft_token=f"token-{worker}-{number}")
                deletion_log.record("deleted", fake)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        entries = deletion_log.entries()
    assert sorted(entry.response_id or 0 for entry in entries) == sorted(
        worker * 100 + number for worker in range(8) for number in range(25)
    )


def test_a_file_that_is_not_a_deletion_log_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"something": "else"}\n')
    with pytest.raises(ValueError, match="not a deletion log of this app"):
        deletion_log.entries(other)
