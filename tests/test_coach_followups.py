"""Consent and email counters in the rollups follow every path that changes them.

Each step below changes consents or emails the way the app does (the quiz, the sender, the
taker's links, retention, deletion) and then checks three things agree: the maintained rollups,
a rebuild from the raw rows, and a count straight from the raw tables.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from flask import Flask
from sqlalchemy import distinct, func, select

from quiz.app_state import get_content
from quiz.coach import stats
from quiz.extensions import db
from quiz.mail.outbox import claim_due
from quiz.mail.sender import deliver_due
from quiz.mail.transport import PermanentFailure, TemporaryFailure
from quiz.models import Consent, OutboxMessage, Response, utcnow
from quiz.taker import rights
from quiz.taker.retention import purge
from tests.coach_factories import assert_rollups_equal_a_rebuild
from tests.factories import finished_response


class ScriptedTransport:
    """Delivers by the recipient's name: fail@ bounces for good, later@ is retried, others go."""

    def __enter__(self) -> ScriptedTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def send(self, message: EmailMessage) -> None:
        recipient = str(message["To"])
        if "fail@" in recipient:
            raise PermanentFailure("550 5.1.1 unknown mailbox")
        if "later@" in recipient:
            raise TemporaryFailure("451 4.3.0 try again later")


def _raw_figures() -> tuple[int, dict[str, int]]:
    """Confirmed marketing consents and email states, counted on the raw tables."""
    r, c, o = Response.__table__.c, Consent.__table__.c, OutboxMessage.__table__.c
    confirmed = db.session.scalar(
        select(func.count(distinct(c.response_id)))
        .select_from(Consent.__table__.join(Response.__table__, r.id == c.response_id))
        .where(
            r.status == "finished",
            c.kind == "marketing",
            c.confirmed_at.is_not(None),
            c.withdrawn_at.is_(None),
        )
    )
    states = dict.fromkeys(stats.EMAIL_STATES, 0)
    for status, count in db.session.execute(
        select(o.status, func.count())
        .select_from(OutboxMessage.__table__.join(Response.__table__, r.id == o.response_id))
        # The dashboard counts the summaries and opt-in emails; the follow-up series that a
        # confirmation queues has figures of its own.
        .where(r.status == "finished", o.kind.in_(("result", "optin")))
        .group_by(o.status)
    ):
        states[status] = int(count)
    return int(confirmed or 0), states


def _check(app: Flask, marketing: int, **states: int) -> None:
    """Rollups == rebuild == raw tables, and the dashboard shows the expected numbers."""
    content = get_content(app)
    labels = [page.title for page in content.pages] + ["Kontakt"]
    dimensions = [d.id for d in content.dimensions]
    expected = dict.fromkeys(stats.EMAIL_STATES, 0) | states
    with app.app_context():
        figures = stats.dashboard(stats.Filters(), labels, dimensions)
        assert (figures.marketing_confirmed, dict(figures.email_states)) == (marketing, expected)
        assert _raw_figures() == (marketing, expected)
    assert_rollups_equal_a_rebuild(app)


def _id_of(app: Flask, email: str) -> int:
    with app.app_context():
        return int(db.session.scalar(select(Response.id).where(Response.email == email)) or 0)


def test_consent_and_email_counters_follow_every_change(app: Flask) -> None:
    for email, marketing in (
        ("ok@example.com", "y"),
        ("fail@example.com", ""),
        ("later@example.com", "y"),
        ("more@example.com", "y"),
    ):
        finished_response(app, email=email, consent_marketing=bool(marketing))
    _check(app, marketing=0, queued=7)

    # A sender claims three and stops there: they stay `sending` until the lease runs out.
    now = utcnow()
    with app.app_context():
        assert len(claim_due(app, now, 3)) == 3
    _check(app, marketing=0, queued=4, sending=3)

    # After the lease everything goes out: ok@ and more@ arrive, fail@ bounces, later@ waits.
    report = deliver_due(app, now=now + timedelta(hours=1), transport=ScriptedTransport())
    assert (report.sent, report.failed, report.retried) == (4, 1, 2)
    _check(app, marketing=0, queued=2, sent=4, failed=1)

    # A fresh confirmation email for a pending opt-in whose first one went out.
    ok, later, more = (_id_of(app, f"{n}@example.com") for n in ("ok", "later", "more"))
    with app.app_context():
        assert rights.resend_optin(ok) == "queued"
    _check(app, marketing=0, queued=3, sent=4, failed=1)

    with app.app_context():
        assert rights.confirm_optin(ok) == "confirmed"
        assert rights.confirm_optin(ok) == "already"
        assert rights.confirm_optin(more) == "confirmed"
        followups = db.session.scalar(select(func.count()).where(OutboxMessage.kind == "followup"))
    assert followups == 6  # queued by the two confirmations, and not in the email figures
    _check(app, marketing=2, queued=3, sent=4, failed=1)

    # Unsubscribing withdraws the confirmed consent and drops the opt-in still waiting.
    with app.app_context():
        assert rights.unsubscribe(more) == 1
        assert rights.unsubscribe(later) == 1
        assert rights.resend_optin(later) == "withdrawn"
    _check(app, marketing=1, queued=2, sent=4, failed=1)

    with app.app_context():
        assert rights.delete_data(_id_of(app, "fail@example.com"))
    _check(app, marketing=1, queued=2, sent=4)

    # Retention: a year on, every email of the anonymised responses goes; the confirmed
    # consent stays (only unconfirmed opt-ins expire).
    with app.app_context():
        report = purge(optin_days=30, anonymise_days=365, now=utcnow() + timedelta(days=400))
    # The counted ones, the two series of follow-ups and the two invitations to take it again.
    assert report.emails_deleted == 6 + 6 + 2
    _check(app, marketing=1)
