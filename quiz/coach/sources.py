"""The dashboard's conversion per traffic source (issue 25, item 5): visits, then the start,
finish, confirmed opt-in and call-to-action click rates of each utm_source x utm_medium x
utm_campaign x referrer host, from the funnel counters (quiz.counters.funnel_read)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from quiz.coach.leads import neutralise
from quiz.coach.stats import NO_CAMPAIGN, Filters
from quiz.counters import funnel_read
from quiz.counters.funnel_read import Source

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
    """Call-to-action clicks per source under these filters.

    Counted by the call-to-action tracking of branch `cta` (a clicks table with counters per
    placement), not merged yet: until it is, no click is known and this returns {}. Once merged,
    this is the one place the table reads them from (by the clicking response's source).
    """
    return {}


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
