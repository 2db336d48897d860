"""The funnel per traffic source and the A/B tests' counts: the one writer of
`funnel_counters` and `experiment_counts` (issue 25).

Moved, like the rollups, only through the counters' entry points (quiz.counters) by the writers
of what they count: the landing page's visits (quiz.taker.visits, in batches), starts, finishes
and deletions (quiz.taker.responses), confirmed opt-ins (quiz.taker.consents). Every response
counts its start on the day it started and its finish and confirmed opt-in on the day it
finished, all in its quality class once judged (0 before), so the dashboard's quality filter
leaves the whole response out. quiz.counters.funnel_rebuild recomputes all but the visits, which
exist nowhere else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from quiz.counters.models import ExperimentCount, FunnelCounter
from quiz.counters.rollup_keys import as_date, confirmed_marketing, day_sql, finished_condition
from quiz.counters.upsert import add_counts
from quiz.extensions import db
from quiz.models import Response, ResponseVariant

# (day, source, medium, campaign, referrer host, content version, demo, quality, metric)
FunnelKey = tuple[date, str, str, str, str, str, bool, int, str]
# (experiment id, variant position, metric)
ExperimentKey = tuple[int, int, str]
FUNNEL_KEY_COLUMNS = (
    "day",
    "source",
    "medium",
    "campaign",
    "referrer_host",
    "content_version",
    "is_demo",
    "quality",
    "metric",
)


def source_of(response: Response) -> tuple[str, str, str, str]:
    """The source part of a response's key: utm_source, utm_medium, utm_campaign, host."""
    return (
        response.utm_source or "",
        response.utm_medium or "",
        response.utm_campaign or "",
        response.referrer_host or "",
    )


def source_sql() -> list[ColumnElement[Any]]:
    """The same in SQL, then content version, demo flag and quality class."""
    r = Response.__table__.c
    return [
        func.coalesce(r.utm_source, ""),
        func.coalesce(r.utm_medium, ""),
        func.coalesce(r.utm_campaign, ""),
        func.coalesce(r.referrer_host, ""),
        r.content_version,
        r.is_demo,
        func.coalesce(r.quality_flags, 0),
    ]


def add_funnel(deltas: Mapping[FunnelKey, int]) -> None:
    """Add these deltas to the funnel counters (an upsert per key, in a fixed order)."""
    add_counts(FunnelCounter.__table__, FUNNEL_KEY_COLUMNS, deltas)


def add_experiments(deltas: Mapping[ExperimentKey, int]) -> None:
    """Add these deltas to the experiments' counts."""
    add_counts(ExperimentCount.__table__, ("experiment_id", "position", "metric"), deltas)


def _assignments(response_id: int) -> list[tuple[int, int]]:
    """The (experiment, position) pairs a response was assigned."""
    rv = ResponseVariant.__table__.c
    rows = db.session.execute(
        select(rv.experiment_id, rv.position).where(rv.response_id == response_id)
    )
    return [(int(e), int(p)) for e, p in rows]


def on_visits(
    visits: Mapping[tuple[date, str, str, str, str, str], int],
    shown: Mapping[tuple[int, int], int],
) -> None:
    """Count landing-page visits: (day, source, medium, campaign, host, version) -> n, and
    (experiment, position) -> n for the variants they were shown."""
    deltas: Counter[FunnelKey] = Counter()
    for (day, *source), count in visits.items():
        s, m, c, h, v = source
        deltas[(day, s, m, c, h, v, False, 0, "visit")] += count
    add_funnel(deltas)
    add_experiments({(e, p, "visit"): n for (e, p), n in shown.items()})


def on_start(response: Response, assignments: Mapping[int, int]) -> None:
    """Count a new draft's start (and its variants')."""
    key = (*source_of(response), response.content_version, bool(response.is_demo), 0)
    add_funnel({(response.started_at.date(), *key, "start"): 1})
    add_experiments({(e, p, "start"): 1 for e, p in assignments.items()})


def on_finish(response: Response) -> None:
    """The response just finished and was judged: its start moves into its quality class, its
    finish is counted there (and for its variants)."""
    base = (*source_of(response), response.content_version, bool(response.is_demo))
    quality = response.quality_flags or 0
    assert response.finished_at is not None
    deltas: Counter[FunnelKey] = Counter()
    deltas[(response.finished_at.date(), *base, quality, "finish")] += 1
    if quality:
        deltas[(response.started_at.date(), *base, 0, "start")] -= 1
        deltas[(response.started_at.date(), *base, quality, "start")] += 1
    add_funnel(deltas)
    add_experiments({(e, p, "finish"): 1 for e, p in _assignments(response.id)})


def on_delete(response: Response) -> None:
    """Before a response goes (its consents already gone): take back its start and finish."""
    base = (*source_of(response), response.content_version, bool(response.is_demo))
    finished = response.status == "finished" and response.finished_at is not None
    quality = (response.quality_flags or 0) if finished else 0
    deltas: Counter[FunnelKey] = Counter(
        {(response.started_at.date(), *base, quality, "start"): -1}
    )
    metrics = ["start"]
    if finished:
        assert response.finished_at is not None
        deltas[(response.finished_at.date(), *base, quality, "finish")] -= 1
        metrics.append("finish")
    add_funnel(deltas)
    add_experiments({(e, p, m): -1 for e, p in _assignments(response.id) for m in metrics})


def shift_optins(condition: ColumnElement[bool], sign: int) -> None:
    """Count (1) or take back (-1) the confirmed opt-ins of the matching finished responses."""
    r = Response.__table__.c
    dialect = db.session().get_bind().dialect.name
    keys = [day_sql(r.finished_at, dialect), *source_sql()]
    where = [*finished_condition(), confirmed_marketing(), condition]
    rows = db.session.execute(select(*keys, func.count()).where(*where).group_by(*keys))
    deltas: Counter[FunnelKey] = Counter()
    for day, s, m, c, h, v, demo, quality, count in rows:
        key = (as_date(day), s, m, c, h, v, bool(demo), int(quality), "optin")
        deltas[key] += sign * int(count)
    add_funnel(deltas)
    rv = ResponseVariant.__table__.c
    by_variant = db.session.execute(
        select(rv.experiment_id, rv.position, func.count())
        .join(Response.__table__, r.id == rv.response_id)
        .where(*where)
        .group_by(rv.experiment_id, rv.position)
    )
    add_experiments({(int(e), int(p), "optin"): sign * int(n) for e, p, n in by_variant})


def on_insert(responses: Iterable[Response]) -> None:
    """After responses were written whole, consents included: count them (test data)."""
    rows = list(responses)
    deltas: Counter[FunnelKey] = Counter()
    for response in rows:
        finished = response.status == "finished" and response.finished_at is not None
        quality = (response.quality_flags or 0) if finished else 0
        base = (*source_of(response), response.content_version, bool(response.is_demo), quality)
        deltas[(response.started_at.date(), *base, "start")] += 1
        if finished:
            assert response.finished_at is not None
            deltas[(response.finished_at.date(), *base, "finish")] += 1
    add_funnel(deltas)
    if rows:
        db.session.flush()
        shift_optins(Response.id.in_([r.id for r in rows]), 1)
