"""The figures `/metrics` reads from the database at scrape time: mail, webhooks, PDFs, finishes.

They describe the site as a whole, so every app host reports the same values, whichever worker
is scraped; the request counters (quiz.web.metrics) are per process. Each query is cheap
whatever the number of takers: the finishes and the emails by state come from the dashboard's
month rollups (a few rows per month), the oldest due message and the webhook deliveries from
the `(status, next_attempt_at)` indexes, the sender's pause from its one row. The PDF figures
read `result_reports` in one pass, one row per downloaded PDF (the `pdf` column not selected):
the PDF queue is the renders claimed and not yet stored, the render time that of the renders of
the last hour. That table has no index for it, and on SQLite its rows carry the start of each
PDF, so the pass costs about 50 ms at 10,000 stored PDFs (a few on PostgreSQL, which keeps the
bytes apart); the background queue for PDFs being built will bring figures of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from quiz.counters.models import CoachRollup
from quiz.extensions import db
from quiz.models import MailSenderState, OutboxMessage, ResultPdf, utcnow
from quiz.webhooks.models import WebhookDelivery

OUTBOX_STATES = ("queued", "sending", "sent", "failed", "cancelled")
DELIVERY_STATES = ("queued", "sending", "failed")
# The window of the PDF render times: recent enough to show a slowdown, wide enough to hold some.
RENDER_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Snapshot:
    """What the database says at one scrape."""

    finished: int
    emails: dict[str, int]
    outbox_due: int
    outbox_oldest_due_seconds: float
    deliveries: dict[str, int]
    delivered_last_day: int
    deliveries_oldest_due_seconds: float
    sender_paused: bool
    sender_paused_seconds: float
    sender_failures: int
    pdf_queue: int
    pdf_renders: int
    pdf_render_seconds_sum: float
    pdf_render_seconds_max: float


def _age(oldest: datetime | None, now: datetime) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def _rollup_sum(metric: str) -> dict[str, int]:
    """All-time counts of one rollup metric by its `dimension` (the month rows, demo left out)."""
    rows = db.session.execute(
        select(CoachRollup.dimension, func.coalesce(func.sum(CoachRollup.count), 0))
        .where(
            CoachRollup.metric == metric,
            CoachRollup.period == "month",
            CoachRollup.is_demo.is_(False),
        )
        .group_by(CoachRollup.dimension)
    ).all()
    return {str(dimension): int(count) for dimension, count in rows}


def _oldest_due(
    table: type[OutboxMessage] | type[WebhookDelivery], now: datetime
) -> tuple[int, datetime | None]:
    count, oldest = db.session.execute(
        select(func.count(), func.min(table.next_attempt_at)).where(
            table.status == "queued", table.next_attempt_at <= now
        )
    ).one()
    return int(count), oldest


def read(now: datetime | None = None) -> Snapshot:
    """Read every database figure (read-only; a handful of indexed queries)."""
    now = now or utcnow()
    emails = dict.fromkeys(OUTBOX_STATES, 0)
    emails.update(_rollup_sum("email"))
    outbox_due, outbox_oldest = _oldest_due(OutboxMessage, now)
    deliveries = dict.fromkeys(DELIVERY_STATES, 0)
    # Through the status index, only the few rows in these states: all-time "delivered" would
    # count every event ever sent (a quarter of a second at a million), so it is the last day's.
    deliveries.update(
        {
            str(status): int(count)
            for status, count in db.session.execute(
                select(WebhookDelivery.status, func.count())
                .where(WebhookDelivery.status.in_(DELIVERY_STATES))
                .group_by(WebhookDelivery.status)
            ).all()
        }
    )
    delivered_last_day = db.session.scalar(
        select(func.count()).where(
            WebhookDelivery.created_at >= now - timedelta(days=1),
            WebhookDelivery.status == "delivered",
        )
    )
    _, deliveries_oldest = _oldest_due(WebhookDelivery, now)
    sender = db.session.get(MailSenderState, 1)
    paused_since = sender.paused_since if sender is not None else None
    # One pass over result_reports (it has no index on these columns; see the module docstring).
    recent = and_(ResultPdf.rendered_at >= now - RENDER_WINDOW, ResultPdf.render_ms.is_not(None))
    queue, renders, render_ms_sum, render_ms_max = db.session.execute(
        select(
            func.count(
                case(
                    (
                        # Queued by a finish (or claimed by a download) and not stored yet.
                        and_(
                            ResultPdf.rendered_at.is_(None),
                            or_(
                                ResultPdf.queued_at.is_not(None), ResultPdf.claimed_at.is_not(None)
                            ),
                        ),
                        1,
                    )
                )
            ),
            func.count(case((recent, 1))),
            func.coalesce(func.sum(case((recent, ResultPdf.render_ms))), 0),
            func.max(case((recent, ResultPdf.render_ms))),
        )
    ).one()
    return Snapshot(
        finished=sum(_rollup_sum("finish").values()),
        emails=emails,
        outbox_due=outbox_due,
        outbox_oldest_due_seconds=_age(outbox_oldest, now),
        deliveries=deliveries,
        delivered_last_day=int(delivered_last_day or 0),
        deliveries_oldest_due_seconds=_age(deliveries_oldest, now),
        sender_paused=paused_since is not None,
        sender_paused_seconds=_age(paused_since, now),
        sender_failures=sender.failures if sender is not None else 0,
        pdf_queue=int(queue or 0),
        pdf_renders=int(renders),
        pdf_render_seconds_sum=int(render_ms_sum) / 1000,
        pdf_render_seconds_max=int(render_ms_max or 0) / 1000,
    )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _by_state(name: str, doc: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["state"])
    for state, count in sorted(counts.items()):
        family.add_metric([state], count)
    return family


def families(snapshot: Snapshot) -> list[Metric]:
    """The snapshot as Prometheus gauges (the names the README lists)."""
    s = snapshot
    mean = s.pdf_render_seconds_sum / s.pdf_renders if s.pdf_renders else 0.0
    render = GaugeMetricFamily(
        "quiz_pdf_render_seconds_last_hour",
        "PDF render time of the renders stored in the last hour (read from the database)",
        labels=["stat"],
    )
    render.add_metric(["mean"], mean)
    render.add_metric(["max"], s.pdf_render_seconds_max)
    return [
        _gauge(
            "quiz_finished_responses", "Finished responses, all time, demo left out", s.finished
        ),
        _by_state("quiz_emails", "Takers' emails by state (the dashboard's counts)", s.emails),
        _gauge("quiz_outbox_due_messages", "Queued emails due now", s.outbox_due),
        _gauge(
            "quiz_outbox_oldest_due_seconds",
            "Age of the oldest queued email that is due (0: none waiting)",
            s.outbox_oldest_due_seconds,
        ),
        _by_state(
            "quiz_webhook_deliveries",
            "Webhook deliveries waiting, being sent or given up, by state",
            s.deliveries,
        ),
        _gauge(
            "quiz_webhook_delivered_last_day",
            "Webhook deliveries queued in the last 24 hours and delivered",
            s.delivered_last_day,
        ),
        _gauge(
            "quiz_webhook_oldest_due_seconds",
            "Age of the oldest queued webhook delivery that is due (0: none waiting)",
            s.deliveries_oldest_due_seconds,
        ),
        _gauge(
            "quiz_mail_sender_paused",
            "1 while the mail sender pauses (SMTP unusable)",
            s.sender_paused,
        ),
        _gauge(
            "quiz_mail_sender_paused_seconds",
            "How long the mail sender has been paused (0: not paused)",
            s.sender_paused_seconds,
        ),
        _gauge(
            "quiz_mail_sender_failures",
            "Connection-level SMTP failures in a row",
            s.sender_failures,
        ),
        _gauge("quiz_pdf_queue_length", "PDF renders claimed and not yet stored", s.pdf_queue),
        _gauge("quiz_pdf_renders_last_hour", "PDF renders stored in the last hour", s.pdf_renders),
        render,
    ]


class DatabaseCollector(Collector):
    """A prometheus_client collector that reads the snapshot at each scrape (in an app context)."""

    def collect(self) -> list[Metric]:
        """The database's gauges, and whether they could be read (quiz_metrics_database_up)."""
        try:
            found = families(read())
        except SQLAlchemyError:
            found = []
        finally:
            # Read-only: end the read transaction, so a scrape holds no snapshot open.
            db.session.rollback()
        up = _gauge(
            "quiz_metrics_database_up", "1 when the database figures could be read", bool(found)
        )
        return [*found, up]
