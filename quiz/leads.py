"""The coach's leads: the finished responses, searchable, one page at a time or streamed as CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, or_, select

from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Consent, OutboxMessage, Response
from quiz.stats import Filters, response_conditions

PER_PAGE = 50
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def lead_query(filters: Filters, search: str = "") -> Select[Any]:
    """The finished responses in the filter, newest first, with consent and email state."""
    r = Response.__table__.c
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
            *(r[f"score_{d}"] for d in SCORED_DIMENSIONS),
            _marketing_state().label("marketing"),
            _email_state().label("email_state"),
        )
        .where(r.status == "finished", *response_conditions(filters))
        .order_by(r.finished_at.desc(), r.id.desc())
    )
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


def page_of_leads(filters: Filters, search: str, page: int) -> LeadPage:
    """One page of leads and how many there are in all."""
    query = lead_query(filters, search)
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
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_lines(
    filters: Filters, search: str, header: Sequence[str], labels: dict[str, dict[str, str]]
) -> Iterator[str]:
    """The filtered leads as CSV text (BOM, `;`), yielded in small chunks from a streamed cursor.

    `labels` maps "marketing", "email_state" and "bottleneck" codes to what the coach reads.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    yield "\ufeff" + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    query = lead_query(filters, search).execution_options(yield_per=1000)
    for count, row in enumerate(db.session.execute(query), start=1):
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
        ]
        writer.writerow([neutralise(cell) for cell in cells])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
