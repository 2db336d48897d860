"""The dashboard's figures of the follow-up series, read from their counters (followup_counts).

Per follow-up email: how many were sent, how many takers clicked its call to action (each once,
through the counted redirect, never a tracking pixel) and how many unsubscribed with it the last
one they got (quiz.counters.followups). Each is counted on the day it happened, so a date range
reads what happened in it; the other filters (campaign, content version, demo data, answer
quality) apply as to every other figure. The shares are of the emails sent in the same range.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from quiz.coach.counter_filters import CounterFilters
from quiz.counters.models import FollowupCount
from quiz.extensions import db


@dataclass(frozen=True)
class FollowupFigures:
    """One follow-up email's row on the dashboard."""

    number: int
    sent: int
    clicked: int
    unsubscribed: int

    @property
    def click_share(self) -> float | None:
        """Takers who clicked, of the emails sent (None when none was sent)."""
        return self.clicked / self.sent if self.sent else None

    @property
    def unsubscribe_share(self) -> float | None:
        """Takers who unsubscribed after it, of the emails sent."""
        return self.unsubscribed / self.sent if self.sent else None


def by_email(filters: CounterFilters) -> tuple[FollowupFigures, ...]:
    """Per follow-up number (1, 2, ...) under the dashboard's filters (campaign "" is none)."""
    t = FollowupCount.__table__.c
    conditions = filters.conditions(FollowupCount.__table__, "campaign")
    rows = db.session.execute(
        select(t.number, t.metric, func.sum(t.count))
        .where(*conditions)
        .group_by(t.number, t.metric)
    )
    found: dict[int, dict[str, int]] = {}
    for number, metric, count in rows:
        found.setdefault(int(number), {})[metric] = int(count or 0)
    return tuple(
        FollowupFigures(
            number,
            figures.get("sent", 0),
            figures.get("clicked", 0),
            figures.get("unsubscribed", 0),
        )
        for number, figures in sorted(found.items())
        if any(figures.values())
    )
