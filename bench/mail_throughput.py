"""Mail sender throughput: how many emails per second reach a local SMTP server.

    .venv/bin/python bench/mail_throughput.py [--messages 1000] [--followups 0.3]
        [--db sqlite|postgresql|both] [--profile]

Builds a fresh database (SQLite in a temporary folder; PostgreSQL in a schema of its own in
BENCH_PG_URL's database), finishes RESPONSES quizzes through `responses.finish`, stores their
charts (as the result page does on its first view), queues MESSAGES emails, of which the share
`--followups` (default 0.3) are follow-ups of the series (numbers 1-3, each to an address of its
own) and the rest result summaries, and lets `quiz.mail.sender.deliver_due` send them all to an
aiosmtpd server in a process of its own. Each message is composed from its templates (the
summary with the chart inline; the follow-up with its quoted answer and the counted call to
action), sent over one SMTP connection per batch, and marked sent in its own transaction, a
follow-up with its dashboard counter (issue 24). The follow-ups' quiet hours are moved out of
the way by a time zone where it is midday now. Prints messages per second; the target is at
least 100 (issue 24).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
RESPONSES = 20
TARGET = 100.0


# The SMTP server runs in a process of its own, as a real one would: in this process it would
# compete with the sender for the interpreter lock. It counts what it accepted and prints the
# count when its standard input closes.
SERVER = """
import sys, threading
from aiosmtpd.controller import Controller

class Counting:
    count = 0
    lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 OK"

handler = Counting()
controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
print(handler.count, flush=True)
"""


class SmtpServer:
    """aiosmtpd in a subprocess on a free port."""

    def __init__(self, script: str = SERVER) -> None:
        from tests.mailserver import free_port

        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP server did not start")

    def stop(self) -> int:
        """Stop it; how many messages it accepted."""
        output, _ = self.process.communicate("", timeout=30)
        return int(output.strip() or 0)


def _midday_zone() -> str:
    """A fixed-offset zone where it is about midday now, so no follow-up waits for the morning."""
    from datetime import UTC, datetime

    offset = 12 - datetime.now(UTC).hour  # local = UTC + offset
    offset = max(-12, min(14, offset if offset <= 12 else offset - 24))
    # The Etc zones' signs are inverted (POSIX): Etc/GMT-2 is UTC+2.
    return "Etc/GMT" + ("" if offset == 0 else f"{-offset:+d}")


def _app(database: dict[str, Any], instance: Path, port: int) -> Any:
    os.environ["QUIZ_INSTANCE_PATH"] = str(instance)
    from quiz import create_app

    return create_app(
        {
            "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
            "RATELIMIT_ENABLED": False,
            "MAIL_MAX_PER_HOUR": 10**9,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port,
            "SMTP_SECURITY": "none",
            "PUBLIC_URL": "https://quiz.example",
            "QUIZ_TIMEZONE": _midday_zone(),
            **database,
        }
    )


def _prepare(app: Any, messages: int, followup_share: float) -> None:
    from flask_migrate import upgrade

    from quiz import database
    from quiz.app_state import get_consent_texts, get_content
    from quiz.charts import result_bars, score_chart_png
    from quiz.domain.scoring import sample_answers
    from quiz.extensions import db
    from quiz.models import OutboxMessage, Response
    from quiz.site import settings as site_settings
    from quiz.taker import responses
    from tests.factories import with_extra

    content = get_content(app)
    with app.app_context():
        upgrade()
        # One follow-up per address here, but never wait for the gap to an earlier one.
        site_settings.update({"followup.min_gap": "0s"}, changed_by="bench")
        ids = []
        for index in range(RESPONSES):
            draft = responses.start_draft(content, {})
            answers = with_extra(content, sample_answers(content, "random", seed=index), index)
            due: tuple[str, ...] = ()
            for number, page in enumerate(content.pages, start=1):
                due = responses.save_step(content, draft.id, page, number, answers, completed=True)
            if due:  # the extra page (issue 23), when the core answers leave it due
                extra = responses.extra_page_of(content, due)
                responses.save_step(content, draft.id, extra, None, answers, completed=True)
            lead = responses.Lead("Anna", f"taker{index}@example.com", True, False)
            responses.finish(content, draft.id, lead, get_consent_texts(app))
            ids.append(draft.id)
        with database.write():
            for response in db.session.execute(db.select(Response)).scalars():
                response.chart_png = score_chart_png(
                    result_bars(
                        content.dimensions,
                        response.scores(),
                        response.bands or {},
                        response.bottleneck,
                    )
                )
            db.session.execute(db.delete(OutboxMessage))
            followups = round(messages * followup_share)
            every = messages / followups if followups else 0
            picked = {int(n * every) for n in range(followups)}
            db.session.add_all(
                OutboxMessage(
                    response_id=ids[index % len(ids)],
                    kind="followup" if index in picked else "result",
                    recipient=f"taker{index}@example.com",
                    details={"number": index % 3 + 1} if index in picked else None,
                )
                for index in range(messages)
            )


def run(
    label: str,
    database: dict[str, Any],
    messages: int,
    followup_share: float,
    profile: bool = False,
) -> float:
    """Prepare, send everything, print and return messages per second (with `profile`, also
    the delivery rounds' 40 costliest functions, cumulative; the figures then include the
    profiler's own cost)."""
    from quiz.extensions import db
    from quiz.mail.sender import deliver_due

    server = SmtpServer()
    port = server.port
    received = 0
    try:
        with tempfile.TemporaryDirectory(prefix="mail-bench-") as instance:
            app = _app(database, Path(instance), port)
            _prepare(app, messages, followup_share)
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            cpu_started = time.process_time()
            if profiler is not None:
                profiler.enable()
            sent = 0
            while True:
                report = deliver_due(app)
                sent += report.sent
                if not report.claimed:
                    break
                if report.retried or report.failed:
                    raise SystemExit(f"delivery errors: {report.errors[:3]}")
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            with app.app_context():
                counted = _followups_counted(db)
                db.engine.dispose()
    finally:
        received = server.stop()
    if received != messages or sent != messages:
        raise SystemExit(f"{label}: expected {messages}, server got {received}, sent {sent}")
    expected_followups = round(messages * followup_share)
    if counted != expected_followups:
        raise SystemExit(f"{label}: {expected_followups} follow-ups sent, {counted} counted")
    rate = messages / elapsed
    print(
        f"{label}: {messages} messages ({expected_followups} follow-ups) in {elapsed:.2f} s = {rate:.0f} messages/s "
        f"({1000 * elapsed / messages:.1f} ms each; target >= {TARGET:.0f}/s: "
        f"{'ok' if rate >= TARGET else 'MISSED'}); sender CPU {1000 * cpu / messages:.1f} ms "
        f"per message, i.e. {messages / cpu:.0f}/s on an idle core; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return rate


def _followups_counted(db: Any) -> int:
    """The follow-ups sent, as the dashboard's counters have them."""
    from sqlalchemy import func, select

    from quiz.counters.models import FollowupCount

    t = FollowupCount.__table__.c
    return int(db.session.scalar(select(func.sum(t.count)).where(t.metric == "sent")) or 0)


def main() -> None:
    """Run the benchmark on the chosen databases."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument(
        "--followups", type=float, default=0.3, help="the share of follow-ups (0 to 1)"
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--profile", action="store_true", help="print where the sender's time goes (cProfile)"
    )
    args = parser.parse_args()
    rates = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="mail-bench-db-") as folder:
            uri = f"sqlite:///{folder}/bench.sqlite3"
            rates.append(
                run(
                    "SQLite",
                    {"SQLALCHEMY_DATABASE_URI": uri},
                    args.messages,
                    args.followups,
                    args.profile,
                )
            )
    if args.db in ("postgresql", "both"):
        from sqlalchemy import create_engine, text

        from quiz.config import database_url

        schema = f"mail_bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(database_url(PG_URL))
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            database = {
                "SQLALCHEMY_DATABASE_URI": database_url(PG_URL),
                "SQLALCHEMY_ENGINE_OPTIONS": {
                    "connect_args": {"options": f"-c search_path={schema}"}
                },
            }
            rates.append(run("PostgreSQL", database, args.messages, args.followups, args.profile))
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    if min(rates) < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
