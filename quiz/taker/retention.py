"""Data retention: unconfirmed opt-ins expire, old responses lose their personal data.

Anonymising keeps what the statistics need (scores, bands, answers, campaign, timestamps) and
removes what identifies a person (email, first name, referrer, free-form UTM fields, emails in the
outbox, the coach's notes and tags on the lead). Both steps are idempotent: a second run finds nothing left to do. Orchestration only: the
writers of the outbox, the consents, the lead records and the responses change the rows (and any
counters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from quiz import database, deletion_log
from quiz.extensions import db
from quiz.mail import outbox
from quiz.models import Consent, Response, utcnow
from quiz.taker import consents, lead_records, pdf_store, responses
from quiz.webhooks.models import WebhookDelivery
from quiz.webhooks.queue import forget_older_than

# The columns that can identify a taker; everything else is statistics.
PERSONAL_COLUMNS = ("email", "first_name", "referrer", "utm_term", "utm_content")


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed (or, in a dry run, would remove)."""

    optins_deleted: int
    responses_anonymised: int
    emails_deleted: int
    # Delivered and failed webhook events as old as the responses anonymised: their payloads keep
    # a copy of the email address and name.
    webhooks_deleted: int = 0


def purge(
    optin_days: int, anonymise_days: int, now: datetime | None = None, dry_run: bool = False
) -> PurgeReport:
    """Delete unconfirmed marketing opt-ins and anonymise responses older than the given ages."""
    if optin_days < 1 or anonymise_days < 1:
        raise ValueError("retention periods must be at least one day")
    now = now or utcnow()
    optin_cutoff = now - timedelta(days=optin_days)
    anonymise_cutoff = now - timedelta(days=anonymise_days)
    stale_optins = select(Consent.response_id).where(consents.stale_optin(optin_cutoff))
    due = select(Response.id).where(responses.due_for_anonymising(anonymise_cutoff))
    if dry_run:
        return PurgeReport(
            optins_deleted=consents.count_stale_optins(optin_cutoff),
            responses_anonymised=_count(due),
            emails_deleted=outbox.count_for_retention(stale_optins, due),
            webhooks_deleted=_count(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.created_at < anonymise_cutoff,
                    WebhookDelivery.status.in_(("delivered", "failed")),
                )
            ),
        )
    with database.write():
        # The queued emails go first: they are found through the rows changed below. The stale
        # opt-ins were never confirmed and anonymising keeps every rollup key, so only the email
        # counters change (inside the outbox).
        emails = outbox.purge_for_retention(stale_optins, due)
        optins = consents.purge_stale_optins(optin_cutoff)
        pdf_store.forget(due)  # a stored PDF carries the first name
        lead_records.forget_for_retention(due)  # the coach's notes and tags may name them
        anonymised = responses.anonymise(anonymise_cutoff, now, PERSONAL_COLUMNS)
        webhooks = forget_older_than(anonymise_cutoff)
        deletion_log.record_purge(now, optin_days, anonymise_days)  # a restore re-applies it
    return PurgeReport(
        optins_deleted=optins,
        responses_anonymised=anonymised,
        emails_deleted=emails,
        webhooks_deleted=webhooks,
    )


def _count(query: Select[Any]) -> int:
    subquery = query.subquery()
    return int(db.session.scalar(select(func.count()).select_from(subquery)) or 0)
