"""Reads of the funnel counters and the A/B tests' counts (quiz.counters.funnel writes them).

A few thousand counter rows at most, whatever the number of takers, so the dashboard's table of
sources and the experiments' readout stay fast (issue 25).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from quiz.counters.models import ExperimentCount, FunnelCounter
from quiz.counters.rollup_keys import QualityFilter, quality_condition
from quiz.extensions import db

FUNNEL_METRICS = ("visit", "start", "finish", "optin")
# (utm_source, utm_medium, utm_campaign, referrer host)
Source = tuple[str, str, str, str]


@dataclass(frozen=True)
class Narrowed:
    """The dashboard's filters, as the counters know them (None: not narrowed)."""

    start: date | None = None
    end: date | None = None
    campaign: str | None = None  # "" for responses and visits without a campaign
    version: str | None = None
    demo: Literal["all", "real", "demo"] = "all"
    quality: QualityFilter = "all"


def _conditions(narrowed: Narrowed) -> list[ColumnElement[bool]]:
    f = FunnelCounter.__table__.c
    conditions: list[ColumnElement[bool]] = []
    if narrowed.start is not None:
        conditions.append(f.day >= narrowed.start)
    if narrowed.end is not None:
        conditions.append(f.day <= narrowed.end)
    if narrowed.campaign is not None:
        conditions.append(f.campaign == narrowed.campaign)
    if narrowed.version:
        conditions.append(f.content_version == narrowed.version)
    if narrowed.demo != "all":
        conditions.append(f.is_demo.is_(narrowed.demo == "demo"))
    quality = quality_condition(f.quality, narrowed.quality)
    if quality is not None:
        conditions.append(quality)
    return conditions


def by_source(narrowed: Narrowed) -> dict[Source, dict[str, int]]:
    """{source: {metric: count}} for every source with a count under these filters."""
    f = FunnelCounter.__table__.c
    keys = (f.source, f.medium, f.campaign, f.referrer_host, f.metric)
    query = select(*keys, func.sum(f.count)).where(*_conditions(narrowed)).group_by(*keys)
    out: dict[Source, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FUNNEL_METRICS, 0))
    for source, medium, campaign, host, metric, count in db.session.execute(query):
        if count:
            out[(source, medium, campaign, host)][metric] += int(count)
    return dict(out)


def totals(narrowed: Narrowed) -> dict[str, int]:
    """{metric: count} over every source."""
    f = FunnelCounter.__table__.c
    query = select(f.metric, func.sum(f.count)).where(*_conditions(narrowed)).group_by(f.metric)
    out = dict.fromkeys(FUNNEL_METRICS, 0)
    for metric, count in db.session.execute(query):
        out[metric] = int(count or 0)
    return out


def experiment_counts(experiment_id: int) -> dict[int, dict[str, int]]:
    """{variant position: {metric: count}} of one experiment."""
    e = ExperimentCount.__table__.c
    rows = db.session.execute(
        select(e.position, e.metric, e.count).where(e.experiment_id == experiment_id)
    )
    out: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FUNNEL_METRICS, 0))
    for position, metric, count in rows:
        out[int(position)][metric] = int(count)
    return dict(out)
