"""The A/B tests' tables (issue 25): experiments, their variants and log, and who saw which.

Registered on the app's `db` like the other packages' models. One writer each: the experiments,
variants and events are quiz.experiments.lifecycle's; a response's assignments are written with
the response by quiz.taker.responses (and go with it: ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from quiz.extensions import db
from quiz.models import UTCDateTime, utcnow

# What an experiment can vary (quiz.domain.ab_stats names the metrics).
ELEMENTS = ("landing_headline", "landing_intro", "cta", "result_closing")
# draft -> running <-> paused -> ended; only one running or paused experiment per element.
ACTIVE_STATUSES = ("running", "paused")


class Experiment(db.Model):  # type: ignore[name-defined,misc]
    """An A/B test of one element's text, with the metric the coach decides by."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    element: Mapped[str] = mapped_column(String(20))
    # start, finish, optin or click: the step the readout and its recommendation are about.
    metric: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # The expected-loss threshold of a recommendation, in percentage points.
    loss_threshold_pp: Mapped[float] = mapped_column(default=0.5)
    # The chosen winner's position (None while none is chosen).
    winner: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The database itself refuses a second running or paused experiment for one element.
Index(
    "uq_experiments_active_element",
    Experiment.element,
    unique=True,
    sqlite_where=text("status IN ('running', 'paused')"),
    postgresql_where=text("status IN ('running', 'paused')"),
)


class ExperimentVariant(db.Model):  # type: ignore[name-defined,misc]
    """One text of an experiment; fixed once the experiment is created (the readout is about
    exactly the text that was shown)."""

    __tablename__ = "experiment_variants"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    # 0 is the first variant, the one every other is compared with.
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    # The button's label (only for the call to action).
    label: Mapped[str | None] = mapped_column(String(100))


class ExperimentEvent(db.Model):  # type: ignore[name-defined,misc]
    """Created, started, paused, resumed, ended, winner chosen: who did it when."""

    __tablename__ = "experiment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(String(200))
    changed_by: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResponseVariant(db.Model):  # type: ignore[name-defined,misc]
    """Which variant of which experiment a response's taker was shown (part of their data)."""

    __tablename__ = "response_variants"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)
