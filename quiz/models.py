"""SQLAlchemy models only: no business logic, no commits.

The core tables live here; the webhooks' and the counters' tables live in their packages'
`models.py` (quiz.webhooks.models, quiz.counters.models), registered on the same `db`.
Each answer is a row of its own (so SQL can aggregate by question), and each dimension's score is
a column of its own on the response (so SQL can aggregate by dimension without parsing JSON).
A new dimension in the content therefore needs a migration adding its `score_<id>` column;
`create_app` refuses to start until it has one.

The taker's and the coach's mapped classes in one module on purpose: a reader finds every
table of the core here (the counters', the webhooks' and the experiments' live in their
packages' `models`), and the classes are declarations, not logic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from quiz.extensions import db

# The dimensions that have a score column. Keep in step with content/questions.yaml.
SCORED_DIMENSIONS: tuple[str, ...] = (
    "schmerzgrenze",
    "werte",
    "preise",
    "leadership",
    "distanz",
    "trennung",
    "kapazitaet",
)

# responses.extra_page: no extra page due, due and not yet answered, answered.
EXTRA_NONE, EXTRA_DUE, EXTRA_ANSWERED = 0, 1, 2


def utcnow() -> datetime:
    """Now, timezone-aware; a function so each row gets its own time (not one at import)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in time, stored in UTC and always read back aware, in UTC.

    PostgreSQL keeps the zone (`timestamptz`); SQLite keeps none and hands back naive values.
    Every time column has this type, so no caller ever sees a naive time or converts one. A
    naive value given to it counts as UTC, as SQLite always took it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """To UTC before it is stored (SQLite stores the wall-clock digits only)."""
        return None if value is None else _in_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware and in UTC, whatever the driver handed back."""
        return None if value is None else _in_utc(value)


def _in_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Response(db.Model):  # type: ignore[name-defined,misc]
    """One quiz attempt, from the first step (a draft) to the stored result."""

    __tablename__ = "responses"
    # Nothing to fetch back after an insert (quality_flags below is NULL until judged).
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 -- SQLAlchemy's own attribute

    id: Mapped[int] = mapped_column(primary_key=True)
    # Cookie token that lets the taker's browser resume and edit a draft.
    draft_token: Mapped[str] = mapped_column(String(64), unique=True)
    # Link token of the result page; random, stored, never derived from anything else.
    result_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    content_version: Mapped[str] = mapped_column(String(40))
    content_hash: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # How many quiz steps have been completed (the funnel counts drop-off by this).
    steps_completed: Mapped[int] = mapped_column(default=0)
    # {page_id: ISO timestamp} of when each step was last answered.
    step_times: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The extra page (issue 23), which only some takers get, so the funnel counts it apart from
    # the steps: 0 none due, 1 due and not yet answered, 2 answered (EXTRA_* below). Kept by
    # quiz.taker.responses from the answers. Deferred and left to the server's default like
    # quality_flags, so the ORM never names it unless asked (test_item_stats_migration).
    extra_page: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"), deferred=True)

    # Where the taker came from (captured on the landing page).
    utm_source: Mapped[str | None] = mapped_column(String(100))
    utm_medium: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(100), index=True)
    utm_term: Mapped[str | None] = mapped_column(String(100))
    utm_content: Mapped[str | None] = mapped_column(String(100))
    referrer: Mapped[str | None] = mapped_column(String(500))
    # The referrer's host, normalised (quiz.domain.traffic): statistics, kept when the full
    # referrer (personal: it can carry a path and query) is anonymised; "" for none or our own.
    # Deferred and left to the server's NULL like quality_flags, so the ORM's own inserts and
    # loads never name it on a database migrated back to before 0015 (the migration tests).
    referrer_host: Mapped[str | None] = mapped_column(
        String(253), server_default=text("NULL"), deferred=True
    )

    # The lead (last step). Email is optional when QUIZ_REQUIRE_EMAIL is off.
    first_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254), index=True)

    # The result, stored at finish so the result page never recomputes from the request.
    score_schmerzgrenze: Mapped[int | None]
    score_werte: Mapped[int | None]
    score_preise: Mapped[int | None]
    score_leadership: Mapped[int | None]
    score_distanz: Mapped[int | None]
    score_trennung: Mapped[int | None]
    score_kapazitaet: Mapped[int | None]
    bands: Mapped[dict[str, str] | None] = mapped_column(JSON)
    bottleneck: Mapped[str | None] = mapped_column(String(40), index=True)
    runner_up: Mapped[str | None] = mapped_column(String(40))
    analysis: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The result chart, rendered once and shared by every worker.
    chart_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    # Response quality, judged once at finish (quiz.counters.item_stats): bit 1 straight-lining,
    # bit 2 speeder; NULL while not judged (drafts, rows from before issue 14's counters).
    # Written and read only by the item statistics, naming it in their SQL. Deferred and left to
    # the server's NULL, the ORM's own inserts and loads never name it, so rows can still be
    # written and read on a database migrated back to before 0006 (test_item_stats_migration).
    quality_flags: Mapped[int | None] = mapped_column(
        SmallInteger, server_default=text("NULL"), deferred=True
    )

    is_demo: Mapped[bool] = mapped_column(default=False, index=True)
    # A re-assessment (issue 24) names the earlier response it follows (the chain of one
    # person's quizzes): its result shows before and after, the norms and item statistics leave
    # it out. Deleting a taker's data deletes the whole chain (quiz.taker.rights); the cascade
    # is the database's guarantee. Deferred and left to the server's NULL like referrer_host, so
    # the ORM never names it on a database migrated back to before 0017.
    previous_response_id: Mapped[int | None] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"),
        index=True,
        server_default=text("NULL"),
        deferred=True,
    )
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", passive_deletes=True
    )
    consents: Mapped[list[Consent]] = relationship(
        back_populates="response", cascade="all, delete-orphan", passive_deletes=True
    )

    def scores(self) -> dict[str, int]:
        """The stored score of every scored dimension that has one."""
        values = {dim: getattr(self, f"score_{dim}") for dim in SCORED_DIMENSIONS}
        return {dim: value for dim, value in values.items() if value is not None}


Index("ix_responses_status_finished", Response.status, Response.finished_at)


class Answer(db.Model):  # type: ignore[name-defined,misc]
    """One answer to one question, so statistics per question are a GROUP BY away."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("response_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[str] = mapped_column(String(40), index=True)
    option_id: Mapped[str] = mapped_column(String(40))
    dimension_id: Mapped[str] = mapped_column(String(40))
    # Points 0..4 with reverse keys applied, as the scorer counted them; NULL for an answer
    # that says the question does not apply (it counts in no sum).
    points: Mapped[int | None]
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    response: Mapped[Response] = relationship(back_populates="answers")


class Consent(db.Model):  # type: ignore[name-defined,misc]
    """A consent the taker gave, with the exact text version shown, so it can be proven."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    # "data": store the answers and send the result; "marketing": newsletter (double opt-in).
    kind: Mapped[str] = mapped_column(String(20))
    text_version: Mapped[str] = mapped_column(String(40))
    text_hash: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    response: Mapped[Response] = relationship(back_populates="consents")


class OutboxMessage(db.Model):  # type: ignore[name-defined,misc]
    """An email waiting to be sent, written in the same transaction as what caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int | None] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    # "result" (the summary), "optin" (the double opt-in confirmation), "coach_alert" or
    # "new_lead" (notes to the coach, with no response behind them, so the dashboard's email
    # counters never see them; a new-lead note names its lead in `details`).
    kind: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(254))
    # queued -> sending -> sent, or back to queued with a later next_attempt_at, or failed.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What a message without a response needs to be composed (a coach alert's lock minutes).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


Index("ix_outbox_due", OutboxMessage.status, OutboxMessage.next_attempt_at)


class MailSenderState(db.Model):  # type: ignore[name-defined,misc]
    """The mail sender as a whole: paused while the SMTP server cannot be used (one row, id 1).

    Shared through the database, so every sender process on every machine waits alike.
    """

    __tablename__ = "mail_sender"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Connection-level failures in a row (refused, timeout, TLS, login, sender refused).
    failures: Mapped[int] = mapped_column(default=0)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # One of quiz.mail.transport.REASONS, and the server's answer (never an address).
    reason: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Coach(db.Model):  # type: ignore[name-defined,misc]
    """A login for the coach view."""

    __tablename__ = "coaches"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Changes on logout-everywhere and password change, which invalidates old session cookies.
    session_nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResultPdf(db.Model):  # type: ignore[name-defined,misc]
    """The stored PDF of one response, or the claim of its render (migration 0008).

    The table keeps its name from before the PDF modules were called so: `result_reports`.
    """

    __tablename__ = "result_reports"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    # The response's updated_at this PDF was (or is being) rendered for.
    response_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set while a render runs; cleared when its PDF is stored.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    render_ms: Mapped[int | None]
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Set by the finish (migration 0013): the background renderer's queue. NULL on rows made
    # by a download before there was a queue.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Claims so far; a renderer's claim is the attempt it set, so only its holder records it.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # What the PDF is made with: the response's content version and the brand as it stood
    # when the PDF was queued (quiz.taker.pdf_job.Branding), so it stays a document of its moment.
    content_version: Mapped[str | None] = mapped_column(String(40))
    branding: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# The renderer's look-up: the rows still waiting, however many PDFs are stored.
Index(
    "ix_result_reports_queue",
    ResultPdf.queued_at,
    sqlite_where=text("rendered_at IS NULL"),
    postgresql_where=text("rendered_at IS NULL"),
)


# The statuses a coach gives a lead, in the order of a sales conversation; the German labels are
# in templates/coach/labels.html. A lead without a row in lead_records is "new".
LEAD_STATUSES: tuple[str, ...] = ("new", "contacted", "meeting", "client", "not_interested")


class LeadRecord(db.Model):  # type: ignore[name-defined,misc]
    """The coach's work on one lead: its status and free notes (never sent anywhere)."""

    __tablename__ = "lead_records"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeadTag(db.Model):  # type: ignore[name-defined,misc]
    """One tag the coach put on a lead (a row each, so the leads list filters by tag in SQL)."""

    __tablename__ = "lead_tags"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class LeadStatusChange(db.Model):  # type: ignore[name-defined,misc]
    """A status change of a lead, with its time: the lead's history."""

    __tablename__ = "lead_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    old_status: Mapped[str] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CtaClick(db.Model):  # type: ignore[name-defined,misc]
    """One click on the call to action, through /weiter/ (migration 0014): personal data.

    It tells when this taker followed the coach's link and from where (the placement), so it is
    in their data export, goes with their response (ON DELETE CASCADE, and the taker's deletion
    takes it back from the counters first) and is named in the privacy notice.
    quiz.taker.clicks is its one writer; the dashboard counts it (quiz.counters.cta_clicks).
    """

    __tablename__ = "cta_clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    # result, email, pdf or followup-N (quiz.links.PLACEMENT).
    placement: Mapped[str] = mapped_column(String(20))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- A/B tests (issue 25): one writer each, quiz.experiments.lifecycle; a response's assignments
# are written with it by quiz.taker.responses (and go with it: ON DELETE CASCADE). ---

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
