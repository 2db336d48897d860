"""What each response contributes to the coach rollups: the keys, buckets and SQL day expressions.

Pure definitions shared by the counters' writer (quiz.counters.rollups), their rebuild
(quiz.counters.rollup_rebuild), the dashboard's reads (quiz.coach.stats), the item statistics
and the demo data. Nothing here writes: only the owners of the counted tables move the counters,
through the counters' entry points (quiz.counters; see the import-linter contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Date, cast, exists, func
from sqlalchemy.sql.elements import ColumnElement

from quiz.extensions import db
from quiz.models import Consent, OutboxMessage, Response

# Duration histogram: fine steps where takers actually are, coarse ones for the stragglers.
FINE_STEP, FINE_UNTIL = 10, 3600
COARSE_STEP, COARSE_UNTIL = 600, 86400
SCORE_BUCKETS = 10

# A day-level counter: day, campaign, content version, demo flag, metric, dimension, bucket,
# quality class (the response's quality_flags; 0 while unjudged).
Key = tuple[date, str, str, bool, str, str, int, int]
# A stored counter: "day" or "month", then the Key (day = the first of the month for months).
RowKey = tuple[str, date, str, str, bool, str, str, int, int]


@dataclass(frozen=True)
class State:
    """What a response contributes to the rollups, in one place."""

    start_day: date
    campaign: str
    version: str
    is_demo: bool
    steps: int
    # The extra page (responses.extra_page): 0 none due, 1 due, 2 answered. Counted apart from
    # the steps, as metric "extra" with the state as bucket, since only some takers get it.
    finish_day: date | None = None
    duration: int = 0
    scores: Mapping[str, int] = field(default_factory=dict)
    bottleneck: str | None = None
    # The quality flags judged at finish (quiz.counters.item_stats): every counter of the response,
    # its start included, is kept in this class, so a filter leaves the whole response out.
    quality: int = 0
    extra: int = 0
    # A re-assessment (responses.previous_response_id): counted apart as metric "reassess" too,
    # with its change since the earlier result per dimension both scored (metric "change").
    reassessment: bool = False
    changes: Mapping[str, int] = field(default_factory=dict)
    # What happens after the finish; state_of() leaves these out, the SQL helpers count them.
    marketing: bool = False
    emails: Mapping[str, int] = field(default_factory=dict)


def month_of(day: date) -> date:
    """The month-level row a day is counted in: the first of its month."""
    return day.replace(day=1)


def as_date(value: object) -> date:
    """A date from the database (SQLite hands back ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def duration_bucket(seconds: int) -> int:
    """The histogram bucket (its lower bound in seconds) of a time to complete."""
    if seconds < 0:
        return 0
    if seconds < FINE_UNTIL:
        return seconds // FINE_STEP * FINE_STEP
    if seconds < COARSE_UNTIL:
        return seconds // COARSE_STEP * COARSE_STEP
    return COARSE_UNTIL


def duration_bucket_width(bucket: int) -> int:
    """How many seconds the bucket starting at `bucket` spans (the last one: nominally a day)."""
    if bucket < FINE_UNTIL:
        return FINE_STEP
    if bucket < COARSE_UNTIL:
        return COARSE_STEP
    return COARSE_UNTIL


def score_bucket(score: int) -> int:
    """0 for 0-9, ..., 9 for 90-100."""
    return min(max(score, 0) // 10, SCORE_BUCKETS - 1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_second(moment: datetime) -> int:
    """The Unix second a time falls in: truncated, never rounded (x.9995 s is still second x).

    The one definition of a duration's ends; `quiz.counters.rollup_rebuild` computes the same in SQL.
    Integer arithmetic on the timedelta, so no float can round x.999999 up to the next second.
    """
    return (moment - _EPOCH) // timedelta(seconds=1)


def seconds_between(start: datetime, end: datetime) -> int:
    """Whole seconds from start to end: the difference of the seconds each falls in."""
    return epoch_second(end) - epoch_second(start)


def state_of(response: Response) -> State:
    """The contribution of a response as it is now."""
    started = response.started_at
    finished = (
        response.finished_at if response.status == "finished" and response.finished_at else None
    )
    scores = response.scores() if finished else {}
    reassessment = bool(finished and response.previous_response_id is not None)
    return State(
        start_day=started.date(),
        campaign=response.utm_campaign or "",
        version=response.content_version,
        is_demo=bool(response.is_demo),
        steps=response.steps_completed or 0,
        # Deferred: loaded (one query, unless already loaded) only once a step is completed.
        extra=(response.extra_page or 0) if response.steps_completed else 0,
        finish_day=finished.date() if finished else None,
        duration=seconds_between(started, finished) if finished else 0,
        scores=scores,
        bottleneck=response.bottleneck if finished else None,
        # Deferred: loaded (one query) only for a finished response, unless already set.
        quality=(response.quality_flags or 0) if finished else 0,
        # Deferred too: read only for a finished response.
        reassessment=reassessment,
        changes=_changes(response, scores) if reassessment else {},
    )


def _changes(response: Response, scores: Mapping[str, int]) -> dict[str, int]:
    """A re-assessment's change per dimension since the earlier result (both scored)."""
    earlier = db.session.get(Response, response.previous_response_id)
    before = earlier.scores() if earlier is not None else {}
    return {dim: score - before[dim] for dim, score in scores.items() if dim in before}


def contributions(state: State) -> dict[Key, tuple[int, int]]:
    """The rollup counters (count, total) that one response in this state adds."""
    base = (state.campaign, state.version, state.is_demo)
    q = state.quality
    out: dict[Key, tuple[int, int]] = {
        (state.start_day, *base, "start", "", 0, q): (1, 0),
        (state.start_day, *base, "reached", "", state.steps, q): (1, 0),
    }
    if state.extra:
        out[(state.start_day, *base, "extra", "", state.extra, q)] = (1, 0)
    if state.finish_day is not None:
        day = state.finish_day
        out[(day, *base, "finish", "", 0, q)] = (1, state.duration)
        out[(day, *base, "duration", "", duration_bucket(state.duration), q)] = (1, state.duration)
        for dimension, score in state.scores.items():
            out[(day, *base, "score", dimension, score_bucket(score), q)] = (1, score)
        if state.bottleneck:
            out[(day, *base, "bottleneck", state.bottleneck, 0, q)] = (1, 0)
        if state.reassessment:
            out[(day, *base, "reassess", "", 0, q)] = (1, 0)
        for dimension, change in state.changes.items():
            out[(day, *base, "change", dimension, 0, q)] = (1, change)
        if state.marketing:
            out[(day, *base, "marketing", "", 0, q)] = (1, 0)
        for status, count in state.emails.items():
            if count:
                out[(day, *base, "email", status, 0, q)] = (count, 0)
    return out


def finish_key(dialect: str) -> list[ColumnElement[Any]]:
    """The finish-day part of a rollup key in SQL: day, campaign, content version."""
    r = Response.__table__.c
    return [day_sql(r.finished_at, dialect), func.coalesce(r.utm_campaign, ""), r.content_version]


def quality_sql() -> ColumnElement[int]:
    """A response's quality class in SQL: its flags, 0 while unjudged."""
    return func.coalesce(Response.__table__.c.quality_flags, 0)


# Response quality (issue 14): all responses, only unflagged ones, only flagged ones.
QualityFilter = Literal["all", "clean", "flagged"]


def quality_condition(
    quality_class: ColumnElement[int], choice: QualityFilter
) -> ColumnElement[bool] | None:
    """The condition a quality filter puts on a quality class (None: every class)."""
    if choice == "all":
        return None
    return (quality_class == 0) if choice == "clean" else (quality_class != 0)


def finished_condition() -> list[ColumnElement[bool]]:
    """Only finished responses count consents and emails (drafts have none)."""
    r = Response.__table__.c
    return [r.status == "finished", r.finished_at.is_not(None)]


def confirmed_marketing() -> ColumnElement[bool]:
    """The response has a confirmed marketing consent that was not withdrawn."""
    c = Consent.__table__.c
    return exists().where(
        c.response_id == Response.__table__.c.id,
        c.kind == "marketing",
        c.confirmed_at.is_not(None),
        c.withdrawn_at.is_(None),
    )


def day_sql(column: ColumnElement[datetime], dialect: str) -> ColumnElement[date]:
    """The UTC day of a stored time, in SQL."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


# The follow-up series (quiz.mail.outbox.queue_followups) has figures of its own per email
# (quiz.counters.followups), and the invitation to take the quiz again (queue_reassess_invitation)
# shows as the re-assessments it brings: the dashboard's email counters count the summary and the
# opt-in emails only, as they always did.
UNCOUNTED_EMAIL_KINDS = ("followup", "reassess")


def counted_email() -> ColumnElement[bool]:
    """The outbox rows the dashboard's email counters count (and their rebuild recounts)."""
    return OutboxMessage.kind.not_in(UNCOUNTED_EMAIL_KINDS)
