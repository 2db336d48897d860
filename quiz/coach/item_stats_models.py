"""The counters behind the questionnaire-quality figures and the norms (issue 14).

Sufficient statistics, kept per content version x demo flag x quality class, so every figure of
the coach's "Fragebogen-Qualität" page, the `item-stats` command and the taker's norms is a read
of at most a few thousand rows, whatever the number of responses. `quiz.coach.item_stats` is the
only module that writes them; it also recomputes them from the raw rows.

`quality` is the response's `quality_flags` (a bit mask: 1 straight-lining, 2 speeder), so every
figure can leave flagged responses out by summing only quality 0.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, SmallInteger, String, column, table
from sqlalchemy.orm import Mapped, mapped_column

from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, UTCDateTime

# Bits of responses.quality_flags.
STRAIGHT_LINING = 1
SPEEDER = 2
# The points value an option id is counted under when the answer was "not applicable".
NOT_APPLICABLE_POINTS = -1

# `responses.quality_flags` is added by migration 0006; until quiz/models.py maps it, this
# lightweight table is how the counters' writer reads and sets it (and joins responses in SQL).
# NULL means "not judged, not counted"; a finished response is counted iff it is not NULL.
responses_table = table(
    "responses",
    column("id", Integer),
    column("status", String),
    column("content_version", String),
    column("is_demo", Boolean),
    column("started_at", UTCDateTime),
    column("finished_at", UTCDateTime),
    column("quality_flags", SmallInteger),
    *(column(f"score_{dimension}", Integer) for dimension in SCORED_DIMENSIONS),
)


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
    """Finished responses per time-to-complete bucket (quiz.coach.rollups.duration_bucket).

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
