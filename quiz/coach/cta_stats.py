"""The dashboard's clicks on the call to action, read from their counters (cta_click_counts).

Counted by the UTC day of the click (quiz.counters.cta_clicks), so a date range reads the clicks
made in it; the other filters (campaign, content version, demo data, answer quality) apply as to
every other figure. Scanners' opens were never counted (quiz.taker.clicks).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, func, select

from quiz.counters.models import CtaClickCount
from quiz.counters.rollup_keys import QualityFilter, quality_condition
from quiz.extensions import db

# The placements in the order the dashboard lists them; follow-ups after these, by number.
PLACEMENTS = ("result", "email", "pdf")


def clicks_by_placement(
    *,
    start: date | None,
    end: date | None,
    campaign: str | None,
    version: str | None,
    demo: str,
    quality: QualityFilter,
) -> dict[str, int]:
    """Clicks per placement under the dashboard's filters (campaign "" is "no campaign")."""
    t = CtaClickCount.__table__.c
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(t.day >= start)
    if end is not None:
        conditions.append(t.day <= end)
    if campaign is not None:
        conditions.append(t.utm_campaign == campaign)
    if version:
        conditions.append(t.content_version == version)
    if demo != "all":
        conditions.append(t.is_demo.is_(demo == "demo"))
    by_quality = quality_condition(t.quality, quality)
    if by_quality is not None:
        conditions.append(by_quality)
    rows = db.session.execute(
        select(t.placement, func.sum(t.count)).where(*conditions).group_by(t.placement)
    )
    found = {placement: int(count or 0) for placement, count in rows}
    ordered = {placement: found.pop(placement, 0) for placement in PLACEMENTS}
    followups = sorted(found, key=lambda name: int(name.rpartition("-")[2] or 0))
    return ordered | {name: found[name] for name in followups}
