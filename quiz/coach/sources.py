"""The dashboard's conversion per traffic source (issue 25, item 5): visits, then the start,
finish, confirmed opt-in and call-to-action click rates of each utm_source x utm_medium x
utm_campaign x referrer host, from the funnel counters (quiz.counters.funnel_read)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from quiz.coach.leads import neutralise
from quiz.coach.stats import NO_CAMPAIGN, Filters
from quiz.counters import funnel_read
from quiz.counters.funnel_read import Source
from quiz.counters.rollup_keys import quality_condition
from quiz.extensions import db
from quiz.models import CtaClick, Response

SORT_KEYS = (
    "source",
    "medium",
    "campaign",
    "referrer",
    "visits",
    "starts",
    "start_rate",
    "finish_rate",
    "optin_rate",
    "click_rate",
)
DEFAULT_SORT = "visits"


def cta_clicks_by_source(narrowed: funnel_read.Narrowed) -> dict[Source, int]:
    """Call-to-action clicks per source under these filters: the takers who clicked (each once,
    so the click rate stays a share of the visits), by the day of their first click (UTC).

    Read from the clicks (quiz.taker.clicks: one row per click, a small table) joined to their
    responses by primary key, so its cost follows the clicks, not the takers.
    """
    c, r = CtaClick.__table__.c, Response.__table__.c
    first_click = (
        select(c.response_id, func.min(c.clicked_at).label("at")).group_by(c.response_id).subquery()
    )
    conditions = []
    if narrowed.start is not None:
        conditions.append(first_click.c.at >= datetime.combine(narrowed.start, time(), UTC))
    if narrowed.end is not None:
        end = datetime.combine(narrowed.end + timedelta(days=1), time(), UTC)
        conditions.append(first_click.c.at < end)
    if narrowed.campaign is not None:
        conditions.append(func.coalesce(r.utm_campaign, "") == narrowed.campaign)
    if narrowed.version:
        conditions.append(r.content_version == narrowed.version)
    if narrowed.demo != "all":
        conditions.append(r.is_demo.is_(narrowed.demo == "demo"))
    quality = quality_condition(func.coalesce(r.quality_flags, 0), narrowed.quality)
    if quality is not None:
        conditions.append(quality)
    keys = [
        func.coalesce(r.utm_source, ""),
        func.coalesce(r.utm_medium, ""),
        func.coalesce(r.utm_campaign, ""),
        func.coalesce(r.referrer_host, ""),
    ]
    rows = db.session.execute(
        select(*keys, func.count())
        .select_from(first_click.join(Response.__table__, r.id == first_click.c.response_id))
        .where(*conditions)
        .group_by(*keys)
    )
    return {
        (source, medium, campaign, referrer): int(n)
        for source, medium, campaign, referrer, n in rows
    }


@dataclass(frozen=True)
class SourceRow:
    """One source's funnel; the rates are over its visits (None without visits)."""

    source: str
    medium: str
    campaign: str
    referrer: str
    visits: int
    starts: int
    finishes: int
    optins: int
    clicks: int

    def _rate(self, count: int) -> float | None:
        return count / self.visits if self.visits else None

    @property
    def start_rate(self) -> float | None:
        """Starts per visit."""
        return self._rate(self.starts)

    @property
    def finish_rate(self) -> float | None:
        """Finishes per visit."""
        return self._rate(self.finishes)

    @property
    def optin_rate(self) -> float | None:
        """Confirmed opt-ins per visit."""
        return self._rate(self.optins)

    @property
    def click_rate(self) -> float | None:
        """Call-to-action clicks per visit."""
        return self._rate(self.clicks)


def narrowed(filters: Filters) -> funnel_read.Narrowed:
    """The dashboard's filters in the counters' terms."""
    campaign = filters.campaign
    return funnel_read.Narrowed(
        start=filters.start,
        end=filters.end,
        campaign="" if campaign == NO_CAMPAIGN else campaign,
        version=filters.version,
        demo=filters.demo,
        quality=filters.quality,
    )


def source_rows(
    filters: Filters, sort: str = DEFAULT_SORT, descending: bool = True
) -> list[SourceRow]:
    """Every source with a count under these filters, sorted by `sort` (SORT_KEYS)."""
    scope = narrowed(filters)
    clicks = cta_clicks_by_source(scope)
    rows = [
        SourceRow(
            *source,
            visits=counts["visit"],
            starts=counts["start"],
            finishes=counts["finish"],
            optins=counts["optin"],
            clicks=clicks.get(source, 0),
        )
        for source, counts in funnel_read.by_source(scope).items()
    ]
    key = sort if sort in SORT_KEYS else DEFAULT_SORT
    # Rows without a value (no visits, so no rate) last, whichever the direction.
    present = [row for row in rows if getattr(row, key) is not None]
    missing = [row for row in rows if getattr(row, key) is None]
    present.sort(key=lambda row: (getattr(row, key), _names(row)), reverse=descending)
    missing.sort(key=_names)
    return present + missing


def _names(row: SourceRow) -> tuple[str, ...]:
    return (row.source, row.medium, row.campaign, row.referrer)


def total(rows: Sequence[SourceRow]) -> SourceRow:
    """All sources together."""
    return SourceRow(
        "",
        "",
        "",
        "",
        visits=sum(r.visits for r in rows),
        starts=sum(r.starts for r in rows),
        finishes=sum(r.finishes for r in rows),
        optins=sum(r.optins for r in rows),
        clicks=sum(r.clicks for r in rows),
    )


def csv_text(rows: Sequence[SourceRow], header: Sequence[str], none_label: str) -> Iterator[str]:
    """The table as CSV for German spreadsheet programs (BOM, `;`, decimal commas), every cell
    neutralised against formulas like the leads' export. `none_label` names an empty source."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])

    def rate(value: float | None) -> str:
        return "" if value is None else f"{value * 100:.1f}".replace(".", ",")

    for row in rows:
        names = [name or none_label for name in _names(row)]
        counts = [row.visits, row.starts, row.finishes, row.optins, row.clicks]
        rates = [row.start_rate, row.finish_rate, row.optin_rate, row.click_rate]
        writer.writerow([neutralise(cell) for cell in (*names, *counts, *map(rate, rates))])
    yield "\ufeff" + buffer.getvalue()
