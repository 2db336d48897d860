"""The one writer of consents; it moves the dashboard's newsletter counter with them.

A data consent and (with an address) a marketing consent are recorded when a quiz is finished; the
marketing consent counts on the dashboard only once it is confirmed (double opt-in) and until it is
withdrawn, so confirming, withdrawing and deleting move that counter here, in the same function
(through quiz.counters).
Confirming and withdrawing also queue their webhook events in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Select, and_, delete, func, insert, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.elements import ColumnElement

from quiz import counters
from quiz.counters.rollup_keys import Key
from quiz.domain.consent_texts import ConsentTexts
from quiz.extensions import db
from quiz.models import Consent, Response, utcnow
from quiz.webhooks import events

OptinOutcome = Literal["confirmed", "already", "withdrawn", "none"]
OptinState = Literal["pending", "confirmed", "withdrawn", "none"]


def record_at_finish(
    response: Response, *, data: bool, marketing: bool, texts: ConsentTexts, now: datetime
) -> None:
    """Record the consents given on the last step (in the finishing transaction).

    The marketing consent is unconfirmed until the double opt-in, so no counter moves yet.
    """
    for kind, given in (("data", data), ("marketing", marketing)):
        if given:
            db.session.add(
                Consent(
                    response_id=response.id,
                    kind=kind,
                    text_version=texts.version,
                    text_hash=texts.hash_of(kind),
                    granted_at=now,
                )
            )


def carry_over(earlier_id: int, response: Response) -> bool:
    """Copy the standing consents of the earlier response to its re-assessment being finished
    (the invitation's link proved the mailbox, so no second opt-in); whether a data consent
    came along.

    Copied as given (text version, hash, times), so each stays provable; a withdrawn marketing
    consent stays behind. The confirmed one moves the newsletter counters like a confirmation.
    """
    rows = db.session.scalars(
        select(Consent)
        .where(Consent.response_id == earlier_id, Consent.withdrawn_at.is_(None))
        .order_by(Consent.id)
    ).all()
    data = next((c for c in rows if c.kind == "data"), None)
    marketing = next(
        (c for c in reversed(rows) if c.kind == "marketing" and c.confirmed_at is not None), None
    )
    if data is not None:
        db.session.add(_copy(data, response.id))
    if marketing is not None:
        with counters.marketing_change(Response.id == response.id):
            db.session.add(_copy(marketing, response.id))
    return data is not None


# What a carried-over consent keeps of the one it copies: everything that proves it.
_PROOF = ("kind", "text_version", "text_hash", "granted_at", "confirmed_at")


def _copy(consent: Consent, response_id: int) -> Consent:
    return Consent(response_id=response_id, **{name: getattr(consent, name) for name in _PROOF})


def marketing_consent(response_id: int, *, lock: bool = False) -> Consent | None:
    """The latest marketing consent of a response (locked for a writer that changes it)."""
    query = (
        select(Consent)
        .where(Consent.response_id == response_id, Consent.kind == "marketing")
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
        .limit(1)
    )
    # A writer locks the consent, so a second confirmation waits and then sees the first.
    return db.session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def marketing_state(response_id: int) -> OptinState:
    """Whether this response's marketing consent is pending, confirmed, withdrawn or absent."""
    consent = marketing_consent(response_id)
    if consent is None:
        return "none"
    if consent.withdrawn_at is not None:
        return "withdrawn"
    return "confirmed" if consent.confirmed_at is not None else "pending"


def confirm(response_id: int, now: datetime | None = None) -> OptinOutcome:
    """Confirm the marketing consent in the caller's write transaction (commits nothing).

    Returns "confirmed" only when this call changed it; the caller commits or rolls back.
    """
    consent = marketing_consent(response_id, lock=True)
    if consent is None:
        return "none"
    if consent.withdrawn_at is not None:
        return "withdrawn"
    if consent.confirmed_at is not None:
        return "already"
    confirmed_at = now or utcnow()
    with counters.marketing_change(Response.id == response_id):
        consent.confirmed_at = confirmed_at
    events.optin_confirmed(consent.response, confirmed_at)
    return "confirmed"


def withdraw_marketing(
    response: Response, response_ids: Select[Any], now: datetime | None = None
) -> int:
    """Withdraw the marketing consents of these responses (caller's transaction); how many.

    `response` is the one whose link was used; the CRM hears of every response withdrawn.
    """
    now = now or utcnow()
    consents = (
        db.session.execute(
            select(Consent)
            .where(
                Consent.response_id.in_(response_ids),
                Consent.kind == "marketing",
                Consent.withdrawn_at.is_(None),
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    with counters.marketing_change(Response.id.in_(sorted({c.response_id for c in consents}))):
        for consent in consents:
            consent.withdrawn_at = now
    if consents:
        events.unsubscribed(response, [c.response_id for c in consents], now)
    return len(consents)


def delete_for_responses(response_ids: Iterable[int]) -> int:
    """Delete every consent of these responses (before they go), taking back the counter."""
    ids = list(response_ids)
    # Locked first, so no confirmation changes what the counter takes back in between.
    db.session.execute(
        select(Consent.id).where(Consent.response_id.in_(ids)).with_for_update()
    ).all()
    counters.before_consents_deleted(Response.id.in_(ids))
    deleted = db.session.execute(
        delete(Consent)
        .where(Consent.response_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    assert isinstance(deleted, CursorResult)  # a DELETE's result
    return int(deleted.rowcount or 0)


def stale_optin(cutoff: datetime) -> ColumnElement[bool]:
    """Marketing consents granted before `cutoff` and never confirmed."""
    return and_(
        Consent.kind == "marketing",
        Consent.confirmed_at.is_(None),
        Consent.granted_at < cutoff,
    )


def count_stale_optins(cutoff: datetime) -> int:
    """How many unconfirmed opt-ins `purge_stale_optins` would delete (for a dry run)."""
    return int(db.session.scalar(select(func.count(Consent.id)).where(stale_optin(cutoff))) or 0)


def purge_stale_optins(cutoff: datetime) -> int:
    """Delete unconfirmed opt-ins older than `cutoff` (never counted, so no counter moves)."""
    deleted = db.session.execute(
        delete(Consent).where(stale_optin(cutoff)).execution_options(synchronize_session=False)
    )
    assert isinstance(deleted, CursorResult)  # a DELETE's result
    return int(deleted.rowcount or 0)


def insert_demo(connection: Connection, columns: list[str], rows: Select[Any]) -> None:
    """Insert demo consents from a query over the demo batch."""
    connection.execute(insert(Consent.__table__).from_select(columns, rows))


def count_demo(deltas: Mapping[Key, Sequence[int]]) -> None:
    """Count the demo consents just inserted: the marketing metric of the batch's counters."""
    counters.on_demo_consents(deltas)


def delete_demo() -> None:
    """Delete the consents of every demo response (their counters go with the demo rebuild)."""
    demo_ids = select(Response.id).where(Response.is_demo.is_(True))
    db.session.execute(delete(Consent).where(Consent.response_id.in_(demo_ids)))
