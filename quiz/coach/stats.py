"""Aggregate queries for the coach dashboard, computed in SQL, returned as dataclasses.

Every figure comes from `coach_rollups` (see quiz.counters.rollups): month rows for the whole
months of the date range and day rows for the partial months at its edges, so a year of a million
responses is a GROUP BY over a few tens of thousands of rows, never over the raw tables.

Date filters are UTC days, inclusive: starts and the funnel count by the day the quiz was started,
completions, scores and times by the day it was finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, distinct, func, select

from quiz.coach import cta_stats, followup_stats
from quiz.coach.counter_filters import CounterFilters
from quiz.counters.models import CoachRollup
from quiz.counters.rollup_keys import (
    SCORE_BUCKETS,
    QualityFilter,
    as_date,
    duration_bucket_width,
    month_of,
    quality_condition,
    quality_sql,
)
from quiz.extensions import db
from quiz.mail.pause import SenderPause, current_pause
from quiz.models import EXTRA_ANSWERED, Response

DemoFilter = Literal["all", "real", "demo"]
NO_CAMPAIGN = "-"  # the filter value for "no UTM campaign"
EMAIL_STATES = ("queued", "sending", "sent", "failed")


@dataclass(frozen=True)
class Filters:
    """What the coach narrowed the dashboard (and the leads list) to."""

    start: date | None = None
    end: date | None = None
    campaign: str | None = None  # None: all; NO_CAMPAIGN: responses without a campaign
    version: str | None = None
    demo: DemoFilter = "all"
    quality: QualityFilter = "all"

    def cache_key(self) -> tuple[object, ...]:
        """A hashable key for caches of things computed from these filters."""
        return (self.start, self.end, self.campaign, self.version, self.demo, self.quality)


@dataclass(frozen=True)
class FunnelStep:
    """How many takers completed at least this step."""

    step: int
    label: str
    count: int
    share: float  # of starts


@dataclass(frozen=True)
class DimensionStats:
    """One dimension's score distribution and average."""

    dimension: str
    buckets: tuple[int, ...]  # counts for 0-9, 10-19, ..., 90-100
    count: int
    average: float | None
    bottleneck_count: int
    # Among re-assessments scored in it: how many, and their average change since the earlier
    # result (points, negative when the score fell).
    retakes: int = 0
    average_change: float | None = None


@dataclass(frozen=True)
class Dashboard:
    """Every figure the dashboard shows."""

    starts: int
    completions: int
    completion_rate: float | None  # finished / started, of those started in the period
    funnel: tuple[FunnelStep, ...]
    median_seconds: float | None
    average_seconds: float | None
    dimensions: tuple[DimensionStats, ...]
    timeline: tuple[tuple[date, int], ...]  # completions per day or per week (Monday)
    timeline_unit: Literal["day", "week"]
    marketing_confirmed: int
    marketing_share: float | None
    email_states: Mapping[str, int] = field(default_factory=dict)
    # Clicks on the call to action per placement (result, email, pdf, followup-N), by click day.
    cta_clicks: Mapping[str, int] = field(default_factory=dict)
    # The follow-up series per email: sent, clicked, unsubscribed after it, by day of each.
    followups: tuple[followup_stats.FollowupFigures, ...] = ()
    # The extra page, which only some takers get: how many got it, how many of those answered
    # it (its share is of those who got it, not of all starts).
    extra_due: int = 0
    extra_answered: int = 0
    # Re-assessments finished (issue 24): among the completions, counted apart here; the norms
    # and item statistics leave them out.
    reassessments: int = 0
    # Set while the mail sender waits for an unusable SMTP server (nothing is lost meanwhile).
    mail_pause: SenderPause | None = None


def _rollup_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """Campaign, version, demo and quality filters on the rollups (dates are chosen per period)."""
    t = CoachRollup.__table__.c
    conditions: list[ColumnElement[bool]] = []
    if filters.campaign is not None:
        conditions.append(
            t.campaign == ("" if filters.campaign == NO_CAMPAIGN else filters.campaign)
        )
    if filters.version:
        conditions.append(t.content_version == filters.version)
    if filters.demo != "all":
        conditions.append(t.is_demo.is_(filters.demo == "demo"))
    quality = quality_condition(t.quality, filters.quality)
    if quality is not None:
        conditions.append(quality)
    return conditions


def _next_month(day: date) -> date:
    return (month_of(day) + timedelta(days=32)).replace(day=1)


def rollup_slices(
    start: date | None, end: date | None
) -> list[tuple[str, date | None, date | None]]:
    """The (period, from, before) slices that cover the days start..end (inclusive) exactly once.

    Whole months come from the month rows; the days before the first and after the last whole
    month from the day rows. None means open-ended.
    """
    first = start if start is None or start.day == 1 else _next_month(start)
    after = None if end is None else _next_month(end)
    if end is not None and after is not None and end + timedelta(days=1) != after:
        after = month_of(end)  # the month of `end` is partial: its days come from day rows
    if first is not None and after is not None and first >= after:
        return [("day", start, end + timedelta(days=1) if end else None)]
    slices: list[tuple[str, date | None, date | None]] = [("month", first, after)]
    if start is not None and first is not None and start < first:
        slices.append(("day", start, first))
    if end is not None and after is not None and after <= end:
        slices.append(("day", after, end + timedelta(days=1)))
    return slices


def response_conditions(filters: Filters, *, by: str = "finished_at") -> list[ColumnElement[bool]]:
    """The filters as conditions on `responses` (dates on `by`: finished_at or started_at)."""
    r = Response.__table__.c
    moment = r[by]
    conditions: list[ColumnElement[bool]] = []
    if filters.start:
        conditions.append(moment >= datetime.combine(filters.start, time(), UTC))
    if filters.end:
        conditions.append(moment < datetime.combine(filters.end + timedelta(days=1), time(), UTC))
    if filters.campaign is not None:
        if filters.campaign == NO_CAMPAIGN:
            conditions.append(r.utm_campaign.is_(None))
        else:
            conditions.append(r.utm_campaign == filters.campaign)
    if filters.version:
        conditions.append(r.content_version == filters.version)
    if filters.demo != "all":
        conditions.append(r.is_demo.is_(filters.demo == "demo"))
    quality = quality_condition(quality_sql(), filters.quality)
    if quality is not None:
        conditions.append(quality)
    return conditions


def filter_choices() -> tuple[list[str], list[str]]:
    """The campaigns and content versions there is data for ("" is no campaign)."""
    t = CoachRollup.__table__.c
    # Every response has a start counter, so the monthly start rows (a few hundred, found by the
    # metric index) name every campaign and version there is.
    starts = (t.metric == "start", t.period == "month")
    campaigns = db.session.scalars(
        select(distinct(t.campaign)).where(*starts).order_by(t.campaign)
    ).all()
    versions = db.session.scalars(
        select(distinct(t.content_version)).where(*starts).order_by(t.content_version)
    ).all()
    return list(campaigns), list(versions)


def median_from_histogram(histogram: Sequence[tuple[int, int]]) -> float | None:
    """The median of grouped data (bucket lower bound, count), interpolated within its bucket."""
    total = sum(count for _, count in histogram)
    if total == 0:
        return None
    half = total / 2
    below = 0
    for lower, count in sorted(histogram):
        if count and below + count >= half:
            return lower + (half - below) / count * duration_bucket_width(lower)
        below += count
    return float(sorted(histogram)[-1][0])


def dashboard(filters: Filters, step_labels: Sequence[str], dimensions: Sequence[str]) -> Dashboard:
    """All dashboard figures for these filters.

    `step_labels` names the steps 1..n (the question pages, then the contact step);
    `dimensions` lists the dimension ids in content order.
    """
    conditions = _rollup_conditions(filters)
    rows = _grouped(filters, conditions)
    starts = completions = seconds_total = 0
    reached: dict[int, int] = {}
    extra: dict[int, int] = {}
    durations: list[tuple[int, int]] = []
    score_buckets: dict[str, list[int]] = {d: [0] * SCORE_BUCKETS for d in dimensions}
    score_sums: dict[str, int] = dict.fromkeys(dimensions, 0)
    bottlenecks: dict[str, int] = dict.fromkeys(dimensions, 0)
    changes: dict[str, list[int]] = {d: [0, 0] for d in dimensions}
    confirmed = reassessed = 0
    states = dict.fromkeys(EMAIL_STATES, 0)
    for (metric, dimension, bucket), (count, total) in rows.items():
        if metric == "start":
            starts += count
        elif metric == "reached":
            reached[bucket] = reached.get(bucket, 0) + count
        elif metric == "extra":
            extra[bucket] = extra.get(bucket, 0) + count
        elif metric == "finish":
            completions += count
            seconds_total += total
        elif metric == "duration":
            durations.append((bucket, count))
        elif metric == "score" and dimension in score_buckets:
            score_buckets[dimension][bucket] += count
            score_sums[dimension] += total
        elif metric == "bottleneck" and dimension in bottlenecks:
            bottlenecks[dimension] += count
        elif metric == "marketing":
            confirmed += count
        elif metric == "reassess":
            reassessed += count
        elif metric == "change" and dimension in changes:
            changes[dimension][0] += count
            changes[dimension][1] += total
        elif metric == "email":
            states[dimension] = states.get(dimension, 0) + count

    funnel = []
    for step, label in enumerate(step_labels, start=1):
        count = sum(n for steps, n in reached.items() if steps >= step)
        funnel.append(FunnelStep(step, label, count, count / starts if starts else 0.0))
    finished_of_started = funnel[-1].count if funnel else 0

    dimension_stats = []
    for dimension in dimensions:
        count = sum(score_buckets[dimension])
        dimension_stats.append(
            DimensionStats(
                dimension=dimension,
                buckets=tuple(score_buckets[dimension]),
                count=count,
                average=score_sums[dimension] / count if count else None,
                bottleneck_count=bottlenecks[dimension],
                retakes=changes[dimension][0],
                average_change=(
                    changes[dimension][1] / changes[dimension][0] if changes[dimension][0] else None
                ),
            )
        )

    timeline, unit = _timeline(conditions, filters)
    return Dashboard(
        starts=starts,
        completions=completions,
        completion_rate=finished_of_started / starts if starts else None,
        funnel=tuple(funnel),
        median_seconds=median_from_histogram(durations),
        average_seconds=seconds_total / completions if completions else None,
        dimensions=tuple(dimension_stats),
        timeline=timeline,
        timeline_unit=unit,
        marketing_confirmed=confirmed,
        marketing_share=confirmed / completions if completions else None,
        extra_due=sum(extra.values()),
        extra_answered=extra.get(EXTRA_ANSWERED, 0),
        reassessments=reassessed,
        email_states=states,
        cta_clicks=cta_stats.clicks_by_placement(_counter_filters(filters)),
        followups=followup_stats.by_email(_counter_filters(filters)),
        mail_pause=current_pause(),
    )


def _counter_filters(filters: Filters) -> CounterFilters:
    """The filters as the counters kept by event day take them (campaign "" is none)."""
    campaign = "" if filters.campaign == NO_CAMPAIGN else filters.campaign
    return CounterFilters(
        filters.start, filters.end, campaign, filters.version, filters.demo, filters.quality
    )


def _grouped(
    filters: Filters, conditions: list[ColumnElement[bool]]
) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(metric, dimension, bucket) -> summed (count, total), one GROUP BY per rollup slice."""
    t = CoachRollup.__table__.c
    out: dict[tuple[str, str, int], tuple[int, int]] = {}
    for period, since, before in rollup_slices(filters.start, filters.end):
        where = [t.period == period, *conditions]
        if since is not None:
            where.append(t.day >= since)
        if before is not None:
            where.append(t.day < before)
        query = (
            select(t.metric, t.dimension, t.bucket, func.sum(t.count), func.sum(t.total))
            .where(*where)
            .group_by(t.metric, t.dimension, t.bucket)
        )
        for metric, dimension, bucket, count, total in db.session.execute(query):
            key = (metric, dimension, int(bucket))
            old_count, old_total = out.get(key, (0, 0))
            out[key] = (old_count + int(count or 0), old_total + int(total or 0))
    return out


def _timeline(
    conditions: list[ColumnElement[bool]], filters: Filters
) -> tuple[tuple[tuple[date, int], ...], Literal["day", "week"]]:
    t = CoachRollup.__table__.c
    where = [t.metric == "finish", t.period == "day", *conditions]
    if filters.start:
        where.append(t.day >= filters.start)
    if filters.end:
        where.append(t.day <= filters.end)
    per_day = [
        (as_date(day), int(count))
        for day, count in db.session.execute(
            select(t.day, func.sum(t.count)).where(*where).group_by(t.day).order_by(t.day)
        )
        if count
    ]
    if not per_day:
        return (), "day"
    first = filters.start or per_day[0][0]
    last = filters.end or per_day[-1][0]
    if (last - first).days <= 62:
        counts = dict(per_day)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return tuple((day, counts.get(day, 0)) for day in days), "day"
    weeks: dict[date, int] = {}
    for day, count in per_day:
        monday = day - timedelta(days=day.weekday())
        weeks[monday] = weeks.get(monday, 0) + count
    monday = first - timedelta(days=first.weekday())
    series = []
    while monday <= last:
        series.append((monday, weeks.get(monday, 0)))
        monday += timedelta(days=7)
    return tuple(series), "week"
