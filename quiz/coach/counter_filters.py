"""The dashboard's filters on the counters kept per day of the event (clicks, follow-ups).

Those tables have day rows only and name the campaign, content version, demo flag and quality
class of the response, so every filter is a plain condition on their columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Table

from quiz.counters.rollup_keys import QualityFilter, quality_condition


@dataclass(frozen=True)
class CounterFilters:
    """The dashboard's filters as these counters take them."""

    start: date | None
    end: date | None
    campaign: str | None  # "" is "no campaign"; None: every one
    version: str | None
    demo: str
    quality: QualityFilter

    def conditions(self, table: Table, campaign_column: str) -> list[ColumnElement[bool]]:
        """The conditions on `table`, whose campaign is in `campaign_column`."""
        t = table.c
        found: list[ColumnElement[bool]] = []
        if self.start is not None:
            found.append(t.day >= self.start)
        if self.end is not None:
            found.append(t.day <= self.end)
        if self.campaign is not None:
            found.append(t[campaign_column] == self.campaign)
        if self.version:
            found.append(t.content_version == self.version)
        if self.demo != "all":
            found.append(t.is_demo.is_(self.demo == "demo"))
        by_quality = quality_condition(t.quality, self.quality)
        if by_quality is not None:
            found.append(by_quality)
        return found
