"""Outages: a dripping webhook receiver, Redis stopped under load, PostgreSQL dropped mid-round.

    .venv/bin/python bench/outage.py [--part drip|redis|postgres|all] [--takers 16]
        [--messages 1000]

Prints three figures (issue 21):

1. **drip**: a receiver that answers one byte every 2 s beside a healthy one (both on loopback,
   the production attempt deadline of 10 s), three events each: when the healthy receiver had
   its deliveries, and how long the dripping attempt lasted.
2. **redis**: gunicorn -w 2 on SQLite with the rate limits on and counted in a private
   redis-server (never the shared one), 16 simulated takers completing the quiz; Redis is
   stopped for 10 s and started again halfway: every 5xx, 429 and failed quiz, and the 5xx
   during the outage.
3. **postgres**: 1,000 result summaries queued in a PostgreSQL schema of its own, sent by the
   mail sender's rounds (as `send-mail --watch` runs them) to an aiosmtpd server in a process of
   its own that counts Message-IDs; after 350 were sent (mid-round), every backend of the sender's own
   connections (found by application_name) is terminated for 3 s. Prints how many messages
   were still unsent 60 s after the drop (late: waiting for the lease), how many stayed
   `sending` after the round that met the drop, and how many arrived twice.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mail_throughput  # noqa: E402
import quiz_load  # noqa: E402

from tests.redis_server import RedisServer  # noqa: E402
from tests.webhook_receiver import DrippingReceiver, Receiver  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


# --- 1. a dripping receiver beside a healthy one ------------------------------------------------


def drip() -> None:
    """Three events to a dripping and a healthy endpoint in one round, production deadline."""
    from flask_migrate import upgrade

    from quiz import create_app
    from quiz.webhooks import endpoints, sender
    from quiz.webhooks.queue import EVENT_TYPES, queue_event

    with tempfile.TemporaryDirectory(prefix="outage-drip-") as folder:
        os.environ["QUIZ_INSTANCE_PATH"] = folder
        app = create_app(
            {
                "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite3",
                "RATELIMIT_ENABLED": False,
            }
        )
        dripping, healthy = DrippingReceiver(interval=2.0), Receiver()
        try:
            with app.app_context():
                upgrade()
                endpoints.add_endpoint(dripping.url(), EVENT_TYPES)  # first: its events are older
                healthy.secret = endpoints.add_endpoint(healthy.url(), EVENT_TYPES)[1]
                from quiz import database

                with database.write():
                    for n in range(3):
                        queue_event("quiz.completed", {"n": n})
            began = time.monotonic()
            reports: list[Any] = []
            thread = threading.Thread(target=lambda: reports.append(sender.deliver_due(app)))
            thread.start()
            first = all_three = None
            while thread.is_alive() or all_three is None:
                count = len(healthy.requests)
                if count and first is None:
                    first = time.monotonic() - began
                if count >= 3 and all_three is None:
                    all_three = time.monotonic() - began
                if time.monotonic() - began > 120:
                    break
                time.sleep(0.005)
            thread.join()
            round_seconds = time.monotonic() - began
        finally:
            dripping.stop()
            healthy.stop()
    [report] = reports
    print("1. Dripping receiver (1 byte / 2 s) beside a healthy one, deadline 10 s per attempt")
    print(f"   healthy endpoint: first delivery after {first:.3f} s, all 3 after {all_three:.3f} s")
    print(
        f"   dripping attempt ended after {round_seconds:.1f} s (round: delivered "
        f"{report.delivered}, retried {report.retried}, postponed {report.postponed}); {_load()}"
    )


# --- 2. Redis stopped and restarted under 16 takers ---------------------------------------------


class _Server(quiz_load.Server):
    """quiz_load's gunicorn -w 2 on SQLite, with the rate limits on and counted in Redis."""

    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        super().__init__(2)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "env":  # quiz_load switches the limits off; here they count in Redis
            value = {
                **value,
                "QUIZ_RATELIMIT": "true",
                "REDIS_URL": self._redis_url,
                # Every taker comes from 127.0.0.1: limits far above the load, still counted.
                "QUIZ_LIMIT_START": "100000 per minute",
                "QUIZ_LIMIT_STEP": "100000 per minute",
            }
        super().__setattr__(name, value)


class _CountingTaker(quiz_load.Taker):
    # Shared by every taker of the run.
    statuses: ClassVar[Counter[int]] = Counter()
    during: ClassVar[Counter[int]] = Counter()
    outage: ClassVar[threading.Event] = threading.Event()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def call(self, timings: Any, step: Any, method: Any, path: Any, body: Any = None) -> Any:
        try:
            status, headers, text = super().call(timings, step, method, path, body)
        except (OSError, http.client.HTTPException):
            status, headers, text = 599, {}, ""  # no answer at all counts as a 5xx
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        with self.lock:
            self.statuses[status] += 1
            if self.outage.is_set():
                self.during[status] += 1
        return status, headers, text


def redis(takers: int, seconds: int = 30, down_at: float = 8.0, down_for: float = 10.0) -> None:
    """16 takers for `seconds`; Redis stopped at `down_at` for `down_for` seconds."""
    with RedisServer() as private:
        server = _Server(private.url)
        try:
            deadline = time.time() + seconds
            completed, failed = [0], [0]

            def worker(index: int) -> None:
                seed = index * 100_000
                while time.time() < deadline:
                    seed += 1
                    try:
                        _CountingTaker(server.port, seed).run(defaultdict(list))
                        completed[0] += 1
                    except Exception:
                        failed[0] += 1

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(takers)]
            for thread in threads:
                thread.start()
            time.sleep(down_at)
            private.stop()
            _CountingTaker.outage.set()
            time.sleep(down_for)
            _CountingTaker.outage.clear()
            private.start()
            for thread in threads:
                thread.join()
        finally:
            server.stop()
    statuses, during = _CountingTaker.statuses, _CountingTaker.during
    five = sum(n for status, n in statuses.items() if status >= 500)
    five_during = sum(n for status, n in during.items() if status >= 500)
    print(
        f"2. Redis stopped for {down_for:.0f} s and started again, {takers} takers for {seconds} s"
    )
    print(
        f"   requests: {sum(statuses.values())} ({sum(during.values())} during the outage); "
        f"5xx: {five} ({five_during} during the outage); 429: {statuses[429]}"
    )
    print(f"   quizzes completed: {completed[0]}, failed: {failed[0]}; {_load()}")


# --- 3. a PostgreSQL drop during a 1,000-message round ------------------------------------------

COUNTING_SERVER = """
import sys, threading
from collections import Counter, defaultdict
from email.parser import BytesHeaderParser
from aiosmtpd.controller import Controller

class Counting:
    ids = Counter()
    lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message_id = BytesHeaderParser().parsebytes(envelope.content)["Message-ID"]
        with self.lock:
            self.ids[message_id] += 1
        return "250 OK"

handler = Counting()
controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
print(len(handler.ids), sum(1 for n in handler.ids.values() if n > 1), flush=True)
"""


class _CountingSmtp(mail_throughput.SmtpServer):
    """mail_throughput's aiosmtpd process, counting Message-IDs."""

    def __init__(self) -> None:
        super().__init__(COUNTING_SERVER)

    def counts(self) -> tuple[int, int]:
        """Stop it: distinct Message-IDs, and how many of them arrived more than once."""
        output, _ = self.process.communicate("", timeout=30)
        distinct, twice = output.split()
        return int(distinct), int(twice)


def postgres(messages: int, after: int = 350, drop_for: float = 3.0) -> None:
    """Send `messages` summaries; drop the sender's connections for `drop_for` s after `after`."""
    from sqlalchemy import create_engine, text

    from quiz.config import database_url
    from quiz.extensions import db
    from quiz.mail.sender import deliver_due

    schema = f"outage_bench_{uuid.uuid4().hex[:8]}"
    name = f"outage-bench-{os.getpid()}"
    admin = create_engine(database_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    server = _CountingSmtp()
    try:
        database = {
            "SQLALCHEMY_DATABASE_URI": database_url(PG_URL),
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {
                    "options": f"-c search_path={schema}",
                    "application_name": name,
                }
            },
        }
        with tempfile.TemporaryDirectory(prefix="outage-pg-") as instance:
            app = mail_throughput._app(database, Path(instance), server.port)
            mail_throughput._prepare(app, messages)
            sent_query = text(f"SELECT count(*) FROM \"{schema}\".outbox WHERE status = 'sent'")
            sending_query = text(
                f"SELECT count(*) FROM \"{schema}\".outbox WHERE status = 'sending'"
            )
            kill = text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"
            )
            dropped = threading.Event()
            kills = [0]
            resumed = [0.0]  # seconds from the drop to the first message sent after it

            def drop() -> None:
                with admin.connect() as conn:
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    while int(conn.execute(sent_query).scalar() or 0) < after:
                        time.sleep(0.02)
                    at_drop = int(conn.execute(sent_query).scalar() or 0)
                    dropped.set()
                    began = time.monotonic()
                    while time.monotonic() < began + drop_for:  # new connections die at once
                        kills[0] += int(conn.execute(kill, {"name": name}).scalar() or 0)
                        time.sleep(0.005)
                    while int(conn.execute(sent_query).scalar() or 0) <= at_drop:
                        time.sleep(0.02)
                    resumed[0] = time.monotonic() - began

            killer = threading.Thread(target=drop, daemon=True)
            killer.start()
            began = time.monotonic()
            dropped_at: float | None = None
            stuck: int | None = None  # left `sending` by the round that met the drop
            rounds = failed_rounds = 0
            while True:
                try:
                    claimed = deliver_due(app).claimed
                except Exception as error:
                    failed_rounds += 1
                    claimed = 0
                    print(f"   a round raised {type(error).__name__}: {error}"[:300])
                rounds += 1
                with admin.connect() as conn:
                    sent = int(conn.execute(sent_query).scalar() or 0)
                    if dropped.is_set() and dropped_at is None:
                        dropped_at = time.monotonic()
                        stuck = int(conn.execute(sending_query).scalar() or 0)
                if sent >= messages or time.monotonic() - began > 600:
                    break
                if not claimed:
                    time.sleep(1.0)  # send-mail --watch's interval when nothing was due
            total = time.monotonic() - began
            with app.app_context():
                db.engine.dispose()
    finally:
        distinct, twice = server.counts()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    print(
        f"3. PostgreSQL: every backend of the sender's connections terminated for "
        f"{drop_for:.0f} s after {after} of {messages} summaries ({kills[0]} backends killed)"
    )
    print(
        f"   left `sending` for the lease by the round that met the drop (late): {stuck}; "
        f"sending again {resumed[0]:.1f} s after the drop began"
    )
    print(
        f"   arrived twice: {twice} (distinct at the server: {distinct} of {messages}); all "
        f"sent in {total:.1f} s, {rounds} rounds ({failed_rounds} raised); {_load()}"
    )


def main() -> None:
    """Run the chosen parts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["drip", "redis", "postgres", "all"], default="all")
    parser.add_argument("--takers", type=int, default=16)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    if args.part in ("drip", "all"):
        drip()
    if args.part in ("redis", "all"):
        redis(args.takers)
    if args.part in ("postgres", "all"):
        postgres(args.messages)


if __name__ == "__main__":
    main()
