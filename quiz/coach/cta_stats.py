"""The dashboard's clicks on the call to action, read from their counters (cta_click_counts).

Counted by the UTC day of the click (quiz.counters.cta_clicks), so a date range reads the clicks
made in it; the other filters (campaign, content version, demo data, answer quality) apply as to
every other figure. Scanners' opens were never counted (quiz.taker.clicks).
"""

from __future__ import annotations

from sqlalchemy import func, select

from quiz.coach.counter_filters import CounterFilters
from quiz.counters.models import CtaClickCount
from quiz.extensions import db

# The placements in the order the dashboard lists them; follow-ups after these, by number.
PLACEMENTS = ("result", "email", "pdf")


def clicks_by_placement(filters: CounterFilters) -> dict[str, int]:
    """Clicks per placement under the dashboard's filters (campaign "" is "no campaign")."""
    t = CtaClickCount.__table__.c
    conditions = filters.conditions(CtaClickCount.__table__, "utm_campaign")
    rows = db.session.execute(
        select(t.placement, func.sum(t.count)).where(*conditions).group_by(t.placement)
    )
    found = {placement: int(count or 0) for placement, count in rows}
    ordered = {placement: found.pop(placement, 0) for placement in PLACEMENTS}
    followups = sorted(found, key=lambda name: int(name.rpartition("-")[2] or 0))
    return ordered | {name: found[name] for name in followups}
