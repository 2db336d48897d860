"""The database drops during a delivery round (mail and webhooks), right after the SMTP server
accepted a message or a receiver got an event.

The accepted message must be recorded as sent once the database is back (never sent again), and
the round's other claims given back at once rather than left `sending` for the lease.
On PostgreSQL every statement's real backend is terminated for a while; on SQLite the database's
folder is taken away for a while (no connection can open it).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from quiz.extensions import db
from quiz.mail import outbox
from quiz.mail import sender as mail_sender
from quiz.models import OutboxMessage, utcnow
from quiz.webhooks import sender as webhook_sender
from tests.mailserver import MailServer
from tests.test_outage import app_engine, killer, movable_sqlite, terminate  # noqa: F401
from tests.test_webhooks import add_endpoint, deliveries, queue, receiver  # noqa: F401
from tests.webhook_receiver import Receiver

MESSAGES = 12
AFTER = 3  # the database drops right after the server accepted this many
DOWN_SECONDS = 1.5


def _queue(app: Flask) -> None:
    """Messages without a response behind them (coach alerts, one address each): cheap to build."""
    with app.app_context():
        for n in range(MESSAGES):
            outbox.queue_coach_alert(f"coach-{n}@example.com", locked_minutes=5)


def _states(app: Flask) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
        return Counter({status: count for status, count in rows})


def _round_through_an_outage(app: Flask, mail_server: MailServer, drop: Callable[[], None]) -> None:
    app.config.update(mail_server.smtp_config())
    _queue(app)
    mail_server.handler.on_accept = lambda accepted: drop() if accepted == AFTER else None
    began = time.monotonic()
    # Before: recording the third message raised out of the round, which left it and every
    # message after it `sending` until the lease ran out; then the third went out twice.
    report = mail_sender.deliver_due(app)
    seconds = time.monotonic() - began
    assert report.sent == AFTER  # the accepted message was recorded once the database was back
    assert report.released == MESSAGES - AFTER
    assert seconds < 30
    assert _states(app) == Counter({"sent": AFTER, "queued": MESSAGES - AFTER})
    # The next round sends the rest at once: nothing waits for the lease.
    assert mail_sender.deliver_due(app).sent == MESSAGES - AFTER
    # And a round after the lease sends nothing again.
    later = utcnow() + timedelta(seconds=int(app.config["MAIL_LEASE_SECONDS"]) + 1)
    assert mail_sender.deliver_due(app, now=later).claimed == 0
    ids = Counter(message["Message-ID"] for message in mail_server.messages)
    assert len(ids) == MESSAGES
    assert max(ids.values()) == 1
    assert _states(app) == Counter({"sent": MESSAGES})


def _webhook_round_through_an_outage(app: Flask, hooks: Receiver, drop: Callable[[], None]) -> None:
    add_endpoint(app, hooks)
    queue(app, MESSAGES)
    hooks.on_request = lambda count: drop() if count == AFTER else None
    # Before: the round's record of the third event raised out of it; that event and the rest
    # stayed `sending` until the lease ran out, and the third went out twice.
    report = webhook_sender.deliver_due(app)
    assert report.delivered == AFTER
    assert report.released == MESSAGES - AFTER
    assert Counter(row["status"] for row in deliveries(app)) == Counter(
        {"delivered": AFTER, "queued": MESSAGES - AFTER}
    )
    assert webhook_sender.deliver_due(app).delivered == MESSAGES - AFTER
    later = utcnow() + timedelta(seconds=int(app.config["WEBHOOK_LEASE_SECONDS"]) + 1)
    assert webhook_sender.deliver_due(app, now=later).claimed == 0
    ids = Counter(hooks.ids())
    assert len(ids) == MESSAGES
    assert max(ids.values()) == 1


@pytest.fixture
def postgres_drop(app: Flask, killer: Engine) -> Iterator[Callable[[], None]]:  # noqa: F811
    """Start an outage: every statement's backend is terminated for DOWN_SECONDS."""
    engine = app_engine(app)
    down_until = [0.0]

    def kill_while_down(conn: Any, *_args: Any) -> None:
        if time.monotonic() < down_until[0]:
            terminate(killer, conn.connection.dbapi_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", kill_while_down)
    yield lambda: down_until.__setitem__(0, time.monotonic() + DOWN_SECONDS)
    event.remove(engine, "before_cursor_execute", kill_while_down)


@pytest.fixture
def sqlite_drop(movable_sqlite: tuple[Flask, Path]) -> Callable[[], None]:  # noqa: F811
    """Start an outage: the database's folder is away for DOWN_SECONDS."""
    app, folder = movable_sqlite
    away = folder.with_name("away")

    def take_away() -> None:
        app_engine(app).dispose()  # the sender holds no connection while the server answers
        folder.rename(away)
        threading.Timer(DOWN_SECONDS, away.rename, args=(folder,)).start()

    return take_away


@pytest.mark.postgres
@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_postgres_drop_during_a_mail_round_records_the_accepted_and_gives_back_the_rest(
    app: Flask, mail_server: MailServer, postgres_drop: Callable[[], None]
) -> None:
    _round_through_an_outage(app, mail_server, postgres_drop)


@pytest.mark.postgres
@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_postgres_drop_during_a_webhook_round_records_the_delivered_and_gives_back_the_rest(
    app: Flask,
    receiver: Receiver,  # noqa: F811
    postgres_drop: Callable[[], None],
) -> None:
    _webhook_round_through_an_outage(app, receiver, postgres_drop)


def test_sqlite_gone_during_a_mail_round_records_the_accepted_and_gives_back_the_rest(
    movable_sqlite: tuple[Flask, Path],  # noqa: F811
    mail_server: MailServer,
    sqlite_drop: Callable[[], None],
) -> None:
    _round_through_an_outage(movable_sqlite[0], mail_server, sqlite_drop)


def test_sqlite_gone_during_a_webhook_round_records_the_delivered_and_gives_back_the_rest(
    movable_sqlite: tuple[Flask, Path],  # noqa: F811
    receiver: Receiver,  # noqa: F811
    sqlite_drop: Callable[[], None],
) -> None:
    _webhook_round_through_an_outage(movable_sqlite[0], receiver, sqlite_drop)
