"""The call to action's click counters: the one module that changes `cta_click_counts`.

Each click through /weiter/ (quiz.taker.clicks, the one writer of `cta_clicks`) adds one to the
counter of its UTC day, the response's utm_source, utm_medium and utm_campaign, content version,
demo flag, quality class and bottleneck, and the placement it was shown in; deleting clicks (with
their taker) takes them back in the same transaction. `rebuild()` recomputes the table from the
raw clicks, so `rebuild-rollups [--check]` proves the two agree. Clicks are few next to
responses (at most a handful per finished quiz), so the keys are worked out in Python from one
query over the clicks concerned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.sql.elements import ColumnElement

from quiz.counters.models import CtaClickCount
from quiz.counters.rollup_keys import as_date, quality_sql
from quiz.counters.upsert import add_counts
from quiz.extensions import db
from quiz.models import CtaClick, Response

# (day, utm_source, utm_medium, utm_campaign, content_version, is_demo, quality, bottleneck,
# placement): the primary key of cta_click_counts.
ClickKey = tuple[date, str, str, str, str, bool, int, str, str]
_KEY_COLUMNS = (
    "day",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "content_version",
    "is_demo",
    "quality",
    "bottleneck",
    "placement",
)


def counts_of(condition: ColumnElement[bool]) -> Counter[ClickKey]:
    """The counters the clicks matching `condition` make up, read from the raw rows."""
    r, c = Response.__table__.c, CtaClick.__table__.c
    rows = db.session.execute(
        select(
            c.clicked_at,
            r.utm_source,
            r.utm_medium,
            r.utm_campaign,
            r.content_version,
            r.is_demo,
            quality_sql(),
            r.bottleneck,
            c.placement,
        )
        .select_from(CtaClick.__table__.join(Response.__table__, r.id == c.response_id))
        .where(condition)
    )
    found: Counter[ClickKey] = Counter()
    for clicked_at, source, medium, campaign, version, demo, quality, bottleneck, placement in rows:
        day = clicked_at.date() if hasattr(clicked_at, "date") else as_date(str(clicked_at)[:10])
        key = (
            day,
            source or "",
            medium or "",
            campaign or "",
            version,
            bool(demo),
            int(quality),
            bottleneck or "",
            placement,
        )
        found[key] += 1
    return found


def add(deltas: Mapping[ClickKey, int]) -> None:
    """Add these deltas to the counters (an upsert: atomic on PostgreSQL under concurrency)."""
    add_counts(CtaClickCount.__table__, _KEY_COLUMNS, deltas)


def on_click(click_id: int) -> None:
    """A click was just inserted (and flushed): count it."""
    add(counts_of(CtaClick.__table__.c.id == click_id))


def forget(condition: ColumnElement[bool]) -> None:
    """Before the clicks matching `condition` are deleted: take back their counts."""
    add({key: -count for key, count in counts_of(condition).items()})


def snapshot() -> dict[ClickKey, int]:
    """The counters as kept (rows at 0 left out: a rebuild has none)."""
    t = CtaClickCount.__table__.c
    found: dict[ClickKey, int] = {}
    for row in db.session.execute(select(*(t[name] for name in _KEY_COLUMNS), t.count)):
        if row[-1]:
            key = (as_date(row[0]), *row[1:-1])
            found[key] = int(row[-1])
    return found


def rebuild(demo: bool | None = None) -> None:
    """Recompute the counters (of the demo responses only, with `demo=True`) from the clicks."""
    t = CtaClickCount.__table__
    condition: ColumnElement[bool] = Response.__table__.c.id.is_not(None)
    gone = delete(t)
    if demo is not None:
        gone = gone.where(t.c.is_demo.is_(demo))
        condition = Response.__table__.c.is_demo.is_(demo)
    db.session.execute(gone)
    add(counts_of(condition))
