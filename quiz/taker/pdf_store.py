"""The one writer of `result_reports`: the PDF queue, its claims, and the stored PDFs.

One row per finished response (quiz.models.ResultPdf). The finish inserts it in its own
transaction (`queue`), so the PDF is due the moment the result exists and an outage of the
renderer only delays it. A renderer takes rows with a lease: the background renderer in batches
(`claim_due`, `FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite, so several
processes and machines share the queue) and renews the lease while it renders (`renew`); a
download that finds its PDF neither stored nor claimed takes it itself (`claim_for_download`).
Every claim counts an attempt, and only the holder of the latest attempt records a failure or
gives a claim back. The first PDF stored for a version stays (`store` writes only where none is),
so a render that ran twice, or late, never replaces it. The row goes with its response (ON DELETE
CASCADE): deleting a taker deletes their queued job and their PDF.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from quiz import database
from quiz.extensions import db
from quiz.models import Response, ResultPdf, utcnow
from quiz.taker import pdf_job

# A claim that has not been renewed for this long is taken to be lost (its process ended). The
# background renderer renews its claims every third of it; a download's render is not renewed.
CLAIM_LEASE = timedelta(seconds=60)
# After a failed render, the next attempt waits this long (downloads say so meanwhile).
FAILURE_HOLD = timedelta(seconds=60)
# The background renderer gives a PDF up after this many attempts; a download still tries.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Claim:
    """A render this process holds: for which response and version, and as which attempt."""

    response_id: int
    version: datetime
    attempt: int
    branding: dict[str, Any] | None


def queue(response: Response, now: datetime) -> None:
    """Queue the PDF of a response just finished, in the finish's transaction, with the brand
    of this moment."""
    db.session.flush()  # the response's updated_at as it will be committed
    db.session.execute(
        insert(ResultPdf).values(
            response_id=response.id,
            response_updated_at=response.updated_at,
            queued_at=now,
            attempts=0,
            content_version=response.content_version,
            branding=pdf_job.branding_now(),
        )
    )


def claim_due(limit: int, now: datetime) -> list[Claim]:
    """Claim up to `limit` queued PDFs that are due, oldest first (the background renderer)."""
    with database.write():
        rows = db.session.execute(
            select(
                ResultPdf.response_id,
                ResultPdf.attempts,
                ResultPdf.branding,
                Response.updated_at,
            )
            .join(Response, Response.id == ResultPdf.response_id)
            .where(
                ResultPdf.rendered_at.is_(None),
                ResultPdf.queued_at.is_not(None),
                ResultPdf.queued_at <= now,
                or_(ResultPdf.claimed_at.is_(None), ResultPdf.claimed_at < now - CLAIM_LEASE),
                or_(ResultPdf.failed_at.is_(None), ResultPdf.failed_at < now - FAILURE_HOLD),
                ResultPdf.attempts < MAX_ATTEMPTS,
                Response.status == "finished",
            )
            # Oldest first: every PDF waits at most for those queued before it (newest first
            # rendered a burst's PDFs only after every later finish). A taker who asks before
            # their turn has theirs rendered on demand at once (quiz.taker.pdf).
            .order_by(ResultPdf.queued_at, ResultPdf.response_id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=ResultPdf)
        ).all()
        claims = []
        for row in rows:
            # The response's version now (a change since the finish is rendered as it is).
            db.session.execute(
                update(ResultPdf)
                .where(ResultPdf.response_id == row.response_id)
                .values(
                    claimed_at=now,
                    failed_at=None,
                    attempts=row.attempts + 1,
                    response_updated_at=row.updated_at,
                )
                .execution_options(synchronize_session=False)
            )
            claims.append(Claim(row.response_id, row.updated_at, row.attempts + 1, row.branding))
    return claims


def claim_for_download(response: Response, now: datetime) -> Claim | None:
    """Take the render of the response's version for a download, unless it is stored or another
    process holds a live claim on it; None then (or when the response was deleted meanwhile)."""
    db.session.rollback()
    table = ResultPdf.__table__
    dialect = db.session.get_bind().dialect.name
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    version = response.updated_at
    values = {
        "response_id": response.id,
        "response_updated_at": version,
        "claimed_at": now,
        "failed_at": None,
        "rendered_at": None,
        "render_ms": None,
        "pdf": None,  # a stale PDF (say, with the name anonymising removed) goes at once
        "queued_at": now,
        "attempts": 1,
        "content_version": response.content_version,
        "branding": pdf_job.branding_now(),
    }
    new_row = upsert(table).values(values)
    replaced: dict[str, Any] = {
        key: new_row.excluded[key] for key in values if key != "response_id"
    }
    # A queued row keeps its place, its count and the brand of its finish.
    replaced["queued_at"] = func.coalesce(table.c.queued_at, new_row.excluded.queued_at)
    replaced["attempts"] = table.c.attempts + 1
    replaced["branding"] = func.coalesce(table.c.branding, new_row.excluded.branding)
    statement = new_row.on_conflict_do_update(
        index_elements=[table.c.response_id],
        set_=replaced,
        where=or_(
            table.c.response_updated_at != version,
            and_(
                table.c.rendered_at.is_(None),
                or_(table.c.claimed_at.is_(None), table.c.claimed_at < now - CLAIM_LEASE),
            ),
        ),
    ).returning(table.c.attempts, table.c.branding)
    try:
        with database.write():
            row = db.session.execute(statement).first()
    except IntegrityError:  # the response was deleted in between
        return None
    return None if row is None else Claim(response.id, version, row.attempts, row.branding)


def renew(claims: Iterable[Claim], now: datetime) -> None:
    """Extend the lease of renders still running (each only while it is still ours)."""
    claims = list(claims)
    if not claims:
        return
    with database.write():
        for claim in claims:
            db.session.execute(
                _ours(claim).values(claimed_at=now).execution_options(synchronize_session=False)
            )


def store(claim: Claim, pdf: bytes, render_ms: int) -> bool:
    """Keep the PDF for every worker, if none is stored for this version yet; whether it was."""
    with database.write():
        result = db.session.execute(
            update(ResultPdf)
            .where(
                ResultPdf.response_id == claim.response_id,
                ResultPdf.response_updated_at == claim.version,
                ResultPdf.rendered_at.is_(None),
            )
            .values(
                pdf=pdf,
                claimed_at=None,
                failed_at=None,
                rendered_at=utcnow(),
                render_ms=render_ms,
            )
            .execution_options(synchronize_session=False)
        )
    assert isinstance(result, CursorResult)  # an UPDATE's result
    return bool(result.rowcount)


def record_failure(claim: Claim, now: datetime | None = None) -> None:
    """The render failed: the next attempt after FAILURE_HOLD (if the claim is still ours)."""
    db.session.rollback()  # whatever failed may have left the session's transaction broken
    with database.write():
        db.session.execute(
            _ours(claim)
            .values(claimed_at=None, failed_at=now or utcnow())
            .execution_options(synchronize_session=False)
        )


def release(claims: Iterable[Claim]) -> None:
    """Give claims back unrendered and uncounted (a renderer stopping), so others take them at once."""
    claims = list(claims)
    if not claims:
        return
    db.session.rollback()
    with database.write():
        for claim in claims:
            db.session.execute(
                _ours(claim)
                .values(claimed_at=None, attempts=ResultPdf.attempts - 1)
                .execution_options(synchronize_session=False)
            )


def _ours(claim: Claim) -> Any:
    """An UPDATE of the claim's row while it is unrendered and this claim is its latest."""
    return update(ResultPdf).where(
        ResultPdf.response_id == claim.response_id,
        ResultPdf.attempts == claim.attempt,
        ResultPdf.rendered_at.is_(None),
    )


def forget(response_ids: Select[Any]) -> int:
    """Delete the stored reports of these responses, in the caller's write transaction.

    For anonymising: a stored PDF carries the first name, and waiting for the next download to
    replace it would keep the name for as long as nobody asks.
    """
    deleted = db.session.execute(
        delete(ResultPdf)
        .where(ResultPdf.response_id.in_(response_ids))
        .execution_options(synchronize_session=False)
    )
    assert isinstance(deleted, CursorResult)  # a DELETE's result
    return int(deleted.rowcount or 0)
