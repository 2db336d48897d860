"""The webhook sender: delivery rounds, each endpoint in lanes of its own.

A round claims what is due (quiz.webhooks.delivery: at most WEBHOOK_ENDPOINT_BATCH per endpoint)
and sends each endpoint's deliveries in order, in at most WEBHOOK_ENDPOINT_CONCURRENCY lanes per
endpoint, WEBHOOK_WORKERS lanes at once in all. So a slow receiver holds up only itself: every
attempt ends within WEBHOOK_TIMEOUT_SECONDS (connect, send and answer together, see
quiz.webhooks.transport), an endpoint that did not answer has its other deliveries of the round
postponed with its own backoff, and after WEBHOOK_ROUND_SECONDS no new attempt starts.

Each outcome is recorded as soon as it is known, in a write of its own, tried again while the
database is away (`database.retry_write`): a delivery whose acceptance was recorded is never
sent again. Once the database failed, the round starts nothing new and, when it is back, gives its
untried claims back at once rather than leaving them to the lease. While the round runs, a
heartbeat renews the lease of the claims it still holds, so no other sender takes over a
delivery of a slow round; a round whose lease could not be renewed in time starts no attempt
the lease might not cover. The one window for a duplicate is between the receiver's answer and
its record (a crash, or a database away for longer than half the lease).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from quiz import database
from quiz.models import utcnow
from quiz.webhooks.delivery import (
    Claim,
    Outcome,
    attempt,
    claim_due,
    postpone,
    record,
    release,
    renew,
)
from quiz.webhooks.transport import Client

log = logging.getLogger(__name__)


@dataclass
class Report:
    """What one delivery round did."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    postponed: int = 0
    # Claimed, but given back untried (the round's time was up, or the database failed).
    released: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        """How many deliveries this round handled."""
        return self.delivered + self.retried + self.failed + self.postponed + self.released


def client_for(app: Flask) -> Client:
    """A client with the app's attempt deadline and per-endpoint connections."""
    return Client(
        float(app.config["WEBHOOK_TIMEOUT_SECONDS"]),
        connections=int(app.config["WEBHOOK_ENDPOINT_CONCURRENCY"]),
    )


def deliver_due(
    app: Flask,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    client: Client | None = None,
) -> Report:
    """One delivery round: claim what is due, send it, record each outcome."""
    now = now or utcnow()
    own = client is None
    client = client or client_for(app)
    try:
        with app.app_context():
            try:
                claims = claim_due(app, now, limit or int(app.config["WEBHOOK_BATCH_SIZE"]))
            finally:
                database.discard_session()
        if not claims:
            return Report()
        return _Round(app, client, claims, now).run()
    finally:
        if own:
            client.close()


class _Round:
    """The claims of one round, their lanes, the lease's heartbeat, and what became of them."""

    def __init__(self, app: Flask, client: Client, claims: list[Claim], now: datetime) -> None:
        config = app.config
        self.app, self.client, self.now = app, client, now
        self.report = Report()
        self.lock = threading.Lock()
        self.queues: dict[int, deque[Claim]] = {}
        for claim in claims:
            self.queues.setdefault(claim.endpoint_id, deque()).append(claim)
        self.held: dict[int, Claim] = {claim.id: claim for claim in claims}
        # Endpoints that did not answer this round: their other deliveries wait this long.
        self.unreachable: dict[int, timedelta] = {}
        self.trouble = threading.Event()  # the database failed: start nothing new
        self.started = time.monotonic()
        self.lease = float(config["WEBHOOK_LEASE_SECONDS"])
        self.budget = float(config["WEBHOOK_ROUND_SECONDS"])
        self.timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
        self.renewed = self.started  # the claims' lease runs from here
        self.lanes = int(config["WEBHOOK_ENDPOINT_CONCURRENCY"])
        self.workers = int(config["WEBHOOK_WORKERS"])

    def run(self) -> Report:
        """Send every lane, renewing the lease meanwhile; give back what was not tried."""
        lanes = [
            endpoint_id
            for endpoint_id, queue in self.queues.items()
            for _ in range(min(self.lanes, len(queue)))
        ]
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        heartbeat.start()
        try:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(lanes))) as pool:
                for done in [pool.submit(self._lane, endpoint_id) for endpoint_id in lanes]:
                    done.result()
        finally:
            stop.set()
            heartbeat.join()
        self._give_back()
        return self.report

    def _lane(self, endpoint_id: int) -> None:
        with self.app.app_context():
            try:
                while (claim := self._next(endpoint_id)) is not None:
                    self._deliver(claim)
            except Exception:
                # Whatever it was, the round ends and gives back what it has not tried.
                log.exception("webhook lane of endpoint %s stopped", endpoint_id)
                self.trouble.set()
            finally:
                database.discard_session()

    def _next(self, endpoint_id: int) -> Claim | None:
        """The endpoint's next claim, or None when the round starts nothing more."""
        now = time.monotonic()
        if self.trouble.is_set() or now - self.started >= self.budget:
            return None
        with self.lock:
            # The lease must still cover a whole attempt and its record.
            if now + self.timeout + 1 >= self.renewed + self.lease:
                return None
            queue = self.queues[endpoint_id]
            return queue.popleft() if queue else None

    def _deliver(self, claim: Claim) -> None:
        with self.lock:
            wait = self.unreachable.get(claim.endpoint_id)
        if wait is not None:
            # Its endpoint just failed to answer: wait with it, without using up a try.
            outcome = postpone(wait)
        else:
            try:
                outcome = attempt(self.app, self.client, claim, self.now)
            except Exception as exc:
                # A bug or bad data must not stop the others; it is retried like a 5xx.
                log.exception("webhook %s: could not send", claim.id)
                outcome = Outcome(False, f"{type(exc).__name__}: {exc}"[:300], temporary=True)
        try:
            kind, wait = database.retry_write(
                lambda: record(self.app, claim, outcome, self.now),
                what=f"recording webhook {claim.id}",
                give_up_after=self.lease / 2,
                trouble=self.trouble,
            )
        except SQLAlchemyError:
            # Unrecorded: due again after the lease (the at-least-once window).
            log.exception("webhook %s: outcome not recorded", claim.id)
            self.trouble.set()
            with self.lock:
                self.held.pop(claim.id, None)
            return
        with self.lock:
            self.held.pop(claim.id, None)
            setattr(self.report, kind, getattr(self.report, kind) + 1)
            if outcome.error:
                self.report.errors.append(outcome.error)
            if outcome.unreachable and wait is not None:
                self.unreachable.setdefault(claim.endpoint_id, wait)

    def _heartbeat(self, stop: threading.Event) -> None:
        """Renew the claims' lease every third of it while the round runs."""
        with self.app.app_context():
            try:
                while not stop.wait(self.lease / 3):
                    self._renew()
            finally:
                database.discard_session()

    def _renew(self) -> None:
        began = time.monotonic()
        with self.lock:
            held = list(self.held.values())
        try:
            renew(held, self.now + timedelta(seconds=began - self.started))
        except SQLAlchemyError as error:
            log.warning("webhook lease not renewed (%s)", type(error).__name__)
            database.discard_session()
            return
        with self.lock:
            self.renewed = began

    def _give_back(self) -> None:
        """Release the claims never tried, at once (when the database is back)."""
        with self.lock:
            untried = list(self.held.values())
        if not untried:
            return
        with self.app.app_context():
            try:
                database.retry_write(
                    lambda: release(untried),
                    what=f"giving back {len(untried)} webhook claim(s)",
                    give_up_after=self.lease / 2,
                )
            except SQLAlchemyError:
                log.exception("%d webhook claim(s) not given back", len(untried))
                return
            finally:
                database.discard_session()
        self.report.released += len(untried)


def watch(
    app: Flask,
    interval: float,
    stop: threading.Event | None = None,
    on_round: Callable[[Report], None] | None = None,
) -> None:
    """Keep delivering until `stop` is set: after a round that claimed anything the next one
    starts at once (more may be due), else it waits `interval`."""
    stop = stop or threading.Event()
    with client_for(app) as client:
        while not stop.is_set():
            try:
                report = deliver_due(app, client=client)
            except Exception:
                # The database may be away for a moment; keep the sender alive and try again.
                log.exception("webhook delivery round failed")
                report = Report()
            if on_round is not None:
                on_round(report)
            if report.claimed == 0 or report.delivered + report.retried + report.failed == 0:
                stop.wait(interval)
