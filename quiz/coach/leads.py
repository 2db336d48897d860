"""The coach's leads: the finished responses, searchable, one page at a time or streamed as CSV."""

from __future__ import annotations

import csv
import io
import logging
import math
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import SQLAlchemyError

from quiz.coach.stats import Filters, response_conditions
from quiz.extensions import db
from quiz.models import (
    LEAD_STATUSES,
    SCORED_DIMENSIONS,
    Consent,
    LeadRecord,
    LeadTag,
    OutboxMessage,
    Response,
)

log = logging.getLogger(__name__)

PER_PAGE = 50
FETCH_ROWS = 1000  # rows per round trip of the export's streamed cursor
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
FORMULA_TRIGGERS = frozenset("=+-@")
# Leading characters a spreadsheet may skip before it looks for a formula: whitespace (space,
# no-break space, vertical tab, line breaks, ...), control and format characters (zero-width
# space, BOM). Unicode categories, so no list of code points to keep up to date.
_SKIPPABLE = ("Cc", "Cf", "Zs", "Zl", "Zp")


@dataclass(frozen=True)
class LeadFilter:
    """The leads list's own choices: the coach's status and tag, and the order."""

    status: str | None = None
    tag: str | None = None
    sort: str = ""  # "" newest first; "status": by the stage of the conversation, then newest


@dataclass(frozen=True)
class LeadPage:
    """One page of the leads list."""

    rows: Sequence[Any]
    total: int
    page: int
    pages: int


def _marketing_state() -> Any:
    c = Consent.__table__.c
    r = Response.__table__.c
    # confirmed / withdrawn / pending, or NULL when none was given.
    return (
        select(
            case(
                (c.withdrawn_at.is_not(None), "withdrawn"),
                (c.confirmed_at.is_not(None), "confirmed"),
                else_="pending",
            )
        )
        .where(c.response_id == r.id, c.kind == "marketing")
        .order_by(c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _email_state() -> Any:
    o = OutboxMessage.__table__.c
    r = Response.__table__.c
    return (
        select(o.status)
        .where(o.response_id == r.id, o.kind == "result")
        .order_by(o.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _lead_status() -> Any:
    """The coach's status of the lead; "new" when the coach has not touched it."""
    r = Response.__table__.c
    status = select(LeadRecord.status).where(LeadRecord.response_id == r.id).scalar_subquery()
    return func.coalesce(status, "new")


def _lead_tags() -> Any:
    """The lead's tags, alphabetically, in one comma-separated text."""
    r = Response.__table__.c
    ordered = (
        select(LeadTag.tag).where(LeadTag.response_id == r.id).order_by(LeadTag.tag).subquery()
    )
    return select(func.aggregate_strings(ordered.c.tag, ", ")).scalar_subquery()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def lead_query(
    filters: Filters, search: str = "", lead_filter: LeadFilter | None = None
) -> Select[Any]:
    """The finished responses in the filter, newest first (or by status), with consent and
    email state and the coach's status and tags."""
    lead_filter = lead_filter or LeadFilter()
    r = Response.__table__.c
    status = _lead_status()
    query = (
        select(
            r.id,
            r.first_name,
            r.email,
            r.finished_at,
            r.bottleneck,
            r.utm_campaign,
            r.content_version,
            r.is_demo,
            r.previous_response_id.is_not(None).label("is_reassessment"),
            *(r[f"score_{d}"] for d in SCORED_DIMENSIONS),
            _marketing_state().label("marketing"),
            _email_state().label("email_state"),
            status.label("lead_status"),
            _lead_tags().label("tags"),
        )
        .where(r.status == "finished", *response_conditions(filters))
        .order_by(r.finished_at.desc(), r.id.desc())
    )
    if lead_filter.status:
        query = query.where(status == lead_filter.status)
    if lead_filter.tag:
        tagged = select(LeadTag.response_id).where(
            func.lower(LeadTag.tag) == lead_filter.tag.strip().lower()
        )
        query = query.where(r.id.in_(tagged))
    if lead_filter.sort == "status":
        stage = case({name: rank for rank, name in enumerate(LEAD_STATUSES)}, value=status)
        query = query.order_by(None).order_by(stage, r.finished_at.desc(), r.id.desc())
    search = search.strip()[:100]
    if search:
        pattern = f"%{_escape_like(search.lower())}%"
        query = query.where(
            or_(
                func.lower(r.email).like(pattern, escape="\\"),
                func.lower(r.first_name).like(pattern, escape="\\"),
            )
        )
    return query


def page_of_leads(
    filters: Filters, search: str, page: int, lead_filter: LeadFilter | None = None
) -> LeadPage:
    """One page of leads and how many there are in all."""
    query = lead_query(filters, search, lead_filter)
    total = db.session.scalar(
        select(func.count()).select_from(
            query.order_by(None).with_only_columns(Response.id).subquery()
        )
    )
    total = int(total or 0)
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(max(page, 1), pages)
    rows = db.session.execute(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return LeadPage(rows=rows, total=total, page=page, pages=pages)


def neutralise(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula (OWASP CSV injection).

    A `'` goes before a cell that starts with `=`, `+`, `-`, `@`, tab, CR or LF, and before one
    whose first character after any whitespace, control or format characters is one of
    `=`, `+`, `-`, `@` (" =1+1", "\\n=...", "\\x0b=...", "\\xa0=..."): some programs skip those.
    Deliberately broad; a false alarm only costs a visible apostrophe.
    """
    text = "" if value is None else str(value)
    first = next((ch for ch in text if not _skippable(ch)), "")
    if text.startswith(FORMULA_PREFIXES) or first in FORMULA_TRIGGERS:
        return "'" + text
    return text


def _skippable(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _SKIPPABLE


class ExportRows:
    """The leads of one export, read from a streamed cursor on a connection of its own.

    The query runs and its first batch arrives when this is made, before the response starts:
    a bad query or a database that is away fails the request (a 503 page) instead of sending a
    200 that breaks off. An error on a later batch raises out of the response body; the server
    then ends the connection without the final zero-length chunk, and browsers mark such a
    download as failed, so a cut-off file never looks complete. (Buffering the whole file first
    would avoid the mid-stream case too, at the cost of memory per export; streaming in constant
    memory is worth more here.)

    Its own connection, because Flask ends the request's session (and on PostgreSQL the
    transaction a server-side cursor lives in) before the body is sent. `close()` gives the
    connection back; the response calls it when the body is done or the client went away.
    """

    def __init__(
        self, filters: Filters, search: str, lead_filter: LeadFilter | None = None
    ) -> None:
        self._result: CursorResult[Any] | None = None
        self._connection = db.engine.connect()
        try:
            streamed = self._connection.execution_options(yield_per=FETCH_ROWS)
            self._result = streamed.execute(lead_query(filters, search, lead_filter))
            self._first = self._result.fetchmany(FETCH_ROWS)
        except BaseException:
            self.close()
            raise
        if len(self._first) < FETCH_ROWS:
            self.close()  # everything is here already: give the connection back at once

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._first
            if not self._connection.closed:
                self._first = []
                yield from self._result or ()
        finally:
            self.close()  # at once, not when the response is closed: it holds a lock

    def close(self) -> None:
        """End the read and give the connection back (also after the database failed)."""
        try:
            if self._result is not None:
                self._result.close()  # the server-side cursor first, then the connection
            self._connection.close()
        except SQLAlchemyError:
            log.warning("closing the export's connection failed", exc_info=True)


def csv_lines(
    rows: Iterable[Any], header: Sequence[str], labels: dict[str, dict[str, str]]
) -> Iterator[str]:
    """The leads as CSV text (BOM, `;`), yielded in small chunks as `rows` arrive.

    `labels` maps "marketing", "email_state", "bottleneck" and "lead_status" codes to what the
    coach reads. The coach's notes are never part of it.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    yield "\ufeff" + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, start=1):
        finished = row.finished_at.strftime("%Y-%m-%d %H:%M") if row.finished_at else ""
        cells = [
            row.first_name,
            row.email,
            finished,
            labels["bottleneck"].get(row.bottleneck or "", row.bottleneck),
            *(getattr(row, f"score_{d}") for d in SCORED_DIMENSIONS),
            labels["marketing"].get(row.marketing or "", row.marketing),
            labels["email_state"].get(row.email_state or "", row.email_state),
            row.utm_campaign,
            row.content_version,
            "ja" if row.is_reassessment else "",
            labels["lead_status"].get(row.lead_status, row.lead_status),
            row.tags,
        ]
        writer.writerow([neutralise(cell) for cell in cells])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
