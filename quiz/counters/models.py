"""The counters' tables: the dashboard's rollups and the item statistics (issues 5, 11, 14).

Sufficient statistics, kept per content version x demo flag x quality class (and, for the
rollups, per day and month, campaign and metric), so every figure of the coach's dashboard,
its "Fragebogen-Qualität" page, the `item-stats` command and the taker's norms is a read of a
few thousand rows at most, whatever the number of responses. quiz.counters.rollups and
quiz.counters.item_stats are their only writers; their rebuilds recompute them from the raw rows.

`quality` is the response's `quality_flags` (a bit mask: 1 straight-lining, 2 speeder; 0 for
drafts and responses never judged), so every figure can leave flagged responses out by summing
only quality 0.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from quiz.extensions import db

# Bits of responses.quality_flags.
STRAIGHT_LINING = 1
SPEEDER = 2
# The points value an option id is counted under when the answer was "not applicable".
NOT_APPLICABLE_POINTS = -1


class CoachRollup(db.Model):  # type: ignore[name-defined,misc]
    """Pre-aggregated counts for the coach dashboard, kept in step with `responses`.

    One row per period x day x UTM campaign x content version x demo flag x metric x dimension x
    bucket x quality class, where period is "day" or "month" (then `day` is the first of the month)
    and quality is the response's `quality_flags` (0 for drafts and responses never judged).
    `quiz.counters.rollups` maintains it in the transactions that start, advance and finish a
    response and change its consents and emails; `flask --app quiz rebuild-rollups` recomputes it
    from the raw rows; the two always agree.
    """

    __tablename__ = "coach_rollups"
    # On SQLite the rows live in primary-key order, so a date range is one contiguous read.
    __table_args__ = ({"sqlite_with_rowid": False},)

    period: Mapped[str] = mapped_column(String(5), primary_key=True)
    # UTC day: of the start for start/step metrics, of the finish for the others.
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # "" when the response has no utm_campaign (NULL cannot be part of a primary key).
    campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    # start, reached, finish, duration, score, bottleneck, reassess, change, marketing, email
    # (rollup_keys).
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[int] = mapped_column(primary_key=True)
    # A response's counters all move to its quality class when it is judged at finish, so the
    # dashboard can leave straight-liners and speeders out of every figure (issue 14).
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    # A sum that goes with the count (score points, seconds to complete).
    total: Mapped[int] = mapped_column(BigInteger, default=0)


Index("ix_coach_rollups_metric_period_day", CoachRollup.metric, CoachRollup.period, CoachRollup.day)


class ItemStatSum(db.Model):  # type: ignore[name-defined,misc]
    """Sums over the responses complete in a dimension (every answer in it applicable).

    Per content version x demo x quality x dimension: (item_a "", item_b "") holds n, (item, "")
    Σ points of the item, (a, b) with a <= b by code point Σ of the products (a = b: Σ squares).
    """

    __tablename__ = "item_stat_sums"
    __table_args__ = ({"sqlite_with_rowid": False},)

    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_a: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_b: Mapped[str] = mapped_column(String(40), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class ItemOptionCount(db.Model):  # type: ignore[name-defined,misc]
    """How often each option of each question was chosen, with the points it scored.

    Every finished response counts here, N/A answers too (points NOT_APPLICABLE_POINTS), so the
    counts, means and floor/ceiling shares of a question need no content file.
    """

    __tablename__ = "item_option_counts"
    __table_args__ = ({"sqlite_with_rowid": False},)

    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    option_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    points: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ScoreHistogram(db.Model):  # type: ignore[name-defined,misc]
    """How many finished responses have each score 0..100 in each dimension (the norms)."""

    __tablename__ = "score_histogram"
    __table_args__ = ({"sqlite_with_rowid": False},)

    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    score: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class DurationHistogram(db.Model):  # type: ignore[name-defined,misc]
    """Finished responses per time-to-complete bucket (rollup_keys.duration_bucket).

    The median of a content version's finishes comes from here, so judging a speeder at finish
    reads a few hundred rows instead of every response.
    """

    __tablename__ = "duration_histogram"
    __table_args__ = ({"sqlite_with_rowid": False},)

    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


COUNTER_MODELS = (ItemStatSum, ItemOptionCount, ScoreHistogram, DurationHistogram)


class CtaClickCount(db.Model):  # type: ignore[name-defined,misc]
    """Clicks on the call to action per UTC day of the click x the response's source (utm_source,
    utm_medium, utm_campaign; "" for none) x content version x demo flag x quality class x
    bottleneck x placement (issue 22). quiz.counters.cta_clicks keeps it in the transaction that
    records or deletes a click and rebuilds it from `cta_clicks`.
    """

    __tablename__ = "cta_click_counts"
    __table_args__ = ({"sqlite_with_rowid": False},)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    utm_source: Mapped[str] = mapped_column(String(100), primary_key=True)
    utm_medium: Mapped[str] = mapped_column(String(100), primary_key=True)
    utm_campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bottleneck: Mapped[str] = mapped_column(String(40), primary_key=True)
    placement: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class FunnelCounter(db.Model):  # type: ignore[name-defined,misc]
    """The funnel per traffic source (issue 25): visits, starts, finishes and confirmed opt-ins
    per UTC day x utm_source x utm_medium x utm_campaign x referrer host x content version x
    demo flag x quality class.

    Visits are counted only here (no visit is stored anywhere else, so nothing of a visitor is
    kept); the other metrics follow the responses like the rollups and are recounted from them
    by `rebuild-rollups`. quiz.counters.funnel is the only writer.
    """

    __tablename__ = "funnel_counters"
    __table_args__ = ({"sqlite_with_rowid": False},)

    # UTC day: of the visit, of the start, of the finish (finish and optin).
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # "" where the response or visit had none (NULL cannot be part of a primary key).
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    medium: Mapped[str] = mapped_column(String(100), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    referrer_host: Mapped[str] = mapped_column(String(253), primary_key=True)
    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    # visit, start, finish, optin
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ExperimentCount(db.Model):  # type: ignore[name-defined,misc]
    """Per experiment and variant: visits shown it, and the starts, finishes and confirmed
    opt-ins of the responses assigned it. quiz.counters.funnel is the only writer."""

    __tablename__ = "experiment_counts"

    experiment_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    # visit, start, finish, optin
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class FollowupCount(db.Model):  # type: ignore[name-defined,misc]
    """The follow-up series' figures (issue 24) per UTC day x the response's utm_campaign ("" for
    none) x content version x demo flag x quality class x follow-up number x metric: `sent` (on
    the day it was sent), `clicked` (the taker's first click in that email, on its day) and
    `unsubscribed` (the newsletter withdrawn with this one the last sent, on the day of the
    withdrawal). quiz.counters.followups is the only writer and rebuilds it from the raw rows.
    """

    __tablename__ = "followup_counts"
    __table_args__ = ({"sqlite_with_rowid": False},)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    content_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_demo: Mapped[bool] = mapped_column(primary_key=True)
    quality: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    number: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    # sent, clicked, unsubscribed
    metric: Mapped[str] = mapped_column(String(12), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
