"""Recount the funnel and the experiments' counts from the raw rows (`rebuild-rollups`).

Everything but the visits, which are counted nowhere else (no visit is stored), so they stay
as they were. The demo seed and its removal recount the demo rows only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.sql.elements import ColumnElement

from quiz.counters import funnel
from quiz.counters.models import ExperimentCount, FunnelCounter
from quiz.counters.rollup_keys import as_date, confirmed_marketing, day_sql, finished_condition
from quiz.extensions import db
from quiz.models import Response, ResponseVariant

COUNTED = ("start", "finish", "optin")


def _recount_funnel(demo: bool | None) -> Counter[funnel.FunnelKey]:
    r = Response.__table__.c
    dialect = db.session().get_bind().dialect.name
    only: list[ColumnElement[bool]] = [] if demo is None else [r.is_demo.is_(demo)]
    queries: dict[str, tuple[Any, list[ColumnElement[bool]]]] = {
        "start": (r.started_at, []),
        "finish": (r.finished_at, finished_condition()),
        "optin": (r.finished_at, [*finished_condition(), confirmed_marketing()]),
    }
    counts: Counter[funnel.FunnelKey] = Counter()
    for metric, (moment, where) in queries.items():
        keys = [day_sql(moment, dialect), *funnel.source_sql()]
        query = select(*keys, func.count()).where(*where, *only).group_by(*keys)
        for day, s, m, c, h, v, is_demo, quality, count in db.session.execute(query):
            key = (as_date(day), s, m, c, h, v, bool(is_demo), int(quality), metric)
            counts[key] += int(count)
    return counts


def _recount_experiments() -> Counter[funnel.ExperimentKey]:
    r = Response.__table__.c
    rv = ResponseVariant.__table__.c
    queries = {
        "start": [],
        "finish": finished_condition(),
        "optin": [*finished_condition(), confirmed_marketing()],
    }
    counts: Counter[funnel.ExperimentKey] = Counter()
    for metric, where in queries.items():
        query = (
            select(rv.experiment_id, rv.position, func.count())
            .join(Response.__table__, r.id == rv.response_id)
            .where(*where)
            .group_by(rv.experiment_id, rv.position)
        )
        for experiment, position, count in db.session.execute(query):
            counts[(int(experiment), int(position), metric)] += int(count)
    return counts


def rebuild(demo: bool | None = None) -> None:
    """Replace the counted metrics (of the demo rows, or the others, or all) by a recount."""
    f = FunnelCounter.__table__.c
    gone = [f.metric.in_(COUNTED)]
    if demo is not None:
        gone.append(f.is_demo.is_(demo))
    db.session.execute(delete(FunnelCounter.__table__).where(and_(*gone)))
    funnel.add_funnel(_recount_funnel(demo))
    if demo:
        return  # demo takers are never assigned a variant
    e = ExperimentCount.__table__.c
    db.session.execute(delete(ExperimentCount.__table__).where(e.metric.in_(COUNTED)))
    funnel.add_experiments(_recount_experiments())


def snapshot() -> dict[tuple[Any, ...], int]:
    """Every non-zero counter, keyed (to compare before and after a rebuild)."""
    f = FunnelCounter.__table__.c
    out: dict[tuple[Any, ...], int] = {}
    for row in db.session.execute(select(FunnelCounter.__table__).where(f.count != 0)):
        *key, count = row
        out[("funnel", as_date(key[0]), *key[1:6], bool(key[6]), *key[7:])] = int(count)
    e = ExperimentCount.__table__.c
    for experiment, position, metric, count in db.session.execute(
        select(e.experiment_id, e.position, e.metric, e.count).where(e.count != 0)
    ):
        out[("experiment", int(experiment), int(position), metric)] = int(count)
    return out
