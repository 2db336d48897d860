"""Data retention: unconfirmed opt-ins expire, old responses lose their personal data.

Anonymising keeps what the statistics need (scores, bands, answers, campaign, timestamps) and
removes what identifies a person (email, first name, referrer, free-form UTM fields, emails in the
outbox). Both steps are idempotent: a second run finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update

from quiz.coach import rollups
from quiz.database import begin_write
from quiz.extensions import db
from quiz.models import Consent, OutboxMessage, Response, utcnow

# The columns that can identify a taker; everything else is statistics.
PERSONAL_COLUMNS = ("email", "first_name", "referrer", "utm_term", "utm_content")


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed (or, in a dry run, would remove)."""

    optins_deleted: int
    responses_anonymised: int
    emails_deleted: int


def _stale_optin(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        Consent.kind == "marketing",
        Consent.confirmed_at.is_(None),
        Consent.granted_at < cutoff,
    )


def _due_for_anonymising(cutoff: datetime) -> ColumnElement[bool]:
    # Finished responses age from their finish, abandoned drafts from their start.
    return and_(
        Response.anonymised_at.is_(None),
        or_(
            Response.finished_at < cutoff,
            and_(Response.finished_at.is_(None), Response.started_at < cutoff),
        ),
    )


def purge(
    optin_days: int, anonymise_days: int, now: datetime | None = None, dry_run: bool = False
) -> PurgeReport:
    """Delete unconfirmed marketing opt-ins and anonymise responses older than the given ages."""
    if optin_days < 1 or anonymise_days < 1:
        raise ValueError("retention periods must be at least one day")
    now = now or utcnow()
    optin_cutoff = now - timedelta(days=optin_days)
    anonymise_cutoff = now - timedelta(days=anonymise_days)
    stale_optins = select(Consent.response_id).where(_stale_optin(optin_cutoff))
    due = select(Response.id).where(_due_for_anonymising(anonymise_cutoff))
    optin_mail = and_(OutboxMessage.kind == "optin", OutboxMessage.response_id.in_(stale_optins))
    mail = or_(optin_mail, OutboxMessage.response_id.in_(due))
    if dry_run:
        return PurgeReport(
            optins_deleted=_count(select(Consent.id).where(_stale_optin(optin_cutoff))),
            responses_anonymised=_count(due),
            emails_deleted=_count(select(OutboxMessage.id).where(mail)),
        )
    begin_write()
    # The queued emails go first: they are found through the rows changed below. The dashboard's
    # email counters lose them; the stale opt-ins below were never confirmed and anonymising
    # keeps every rollup key, so nothing else there changes.
    emails = rollups.delete_emails(mail)
    optins = db.session.execute(
        delete(Consent)
        .where(_stale_optin(optin_cutoff))
        .execution_options(synchronize_session=False)
    ).rowcount
    anonymised = db.session.execute(
        update(Response)
        .where(_due_for_anonymising(anonymise_cutoff))
        .values({**dict.fromkeys(PERSONAL_COLUMNS), "anonymised_at": now})
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return PurgeReport(
        optins_deleted=optins, responses_anonymised=anonymised, emails_deleted=emails
    )


def _count(query: object) -> int:
    subquery = query.subquery()  # type: ignore[attr-defined]
    return int(db.session.scalar(select(func.count()).select_from(subquery)) or 0)
