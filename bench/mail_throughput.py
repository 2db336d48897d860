"""Mail sender throughput: how many summaries per second reach a local SMTP server.

    .venv/bin/python bench/mail_throughput.py [--messages 1000] [--db sqlite|postgresql|both]

Builds a fresh database (SQLite in a temporary folder; PostgreSQL in a schema of its own in
BENCH_PG_URL's database), finishes RESPONSES quizzes through `responses.finish`, stores their
charts (as the result page does on its first view), queues MESSAGES result summaries and lets
`quiz.mail.sender.deliver_due` send them all to an aiosmtpd server in a process of its own. Each message is
composed from its templates with the chart inline, sent over one SMTP connection per batch, and
marked sent in its own transaction. Prints messages per second; the target is at least 50.
"""

from __future__ import annotations

import argparse
import os
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
TARGET = 50.0


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
            **database,
        }
    )


def _prepare(app: Any, messages: int) -> None:
    from flask_migrate import upgrade

    from quiz import database
    from quiz.app_state import get_consent_texts, get_content
    from quiz.charts import result_bars, score_chart_png
    from quiz.domain.scoring import sample_answers
    from quiz.extensions import db
    from quiz.models import OutboxMessage, Response
    from quiz.taker import responses

    content = get_content(app)
    with app.app_context():
        upgrade()
        ids = []
        for index in range(RESPONSES):
            draft = responses.start_draft(content, {})
            answers = sample_answers(content, "random", seed=index)
            for number, page in enumerate(content.pages, start=1):
                responses.save_step(content, draft.id, page, number, answers, completed=True)
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
            db.session.add_all(
                OutboxMessage(
                    response_id=ids[index % len(ids)],
                    kind="result",
                    recipient=f"taker{index}@example.com",
                )
                for index in range(messages)
            )


def run(label: str, database: dict[str, Any], messages: int) -> float:
    """Prepare, send everything, print and return messages per second."""
    from quiz.extensions import db
    from quiz.mail.sender import deliver_due

    server = SmtpServer()
    port = server.port
    received = 0
    try:
        with tempfile.TemporaryDirectory(prefix="mail-bench-") as instance:
            app = _app(database, Path(instance), port)
            _prepare(app, messages)
            started = time.perf_counter()
            cpu_started = time.process_time()
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
            with app.app_context():
                db.engine.dispose()
    finally:
        received = server.stop()
    if received != messages or sent != messages:
        raise SystemExit(f"{label}: expected {messages}, server got {received}, sent {sent}")
    rate = messages / elapsed
    print(
        f"{label}: {messages} messages in {elapsed:.2f} s = {rate:.0f} messages/s "
        f"({1000 * elapsed / messages:.1f} ms each; target >= {TARGET:.0f}/s: "
        f"{'ok' if rate >= TARGET else 'MISSED'}); sender CPU {1000 * cpu / messages:.1f} ms "
        f"per message, i.e. {messages / cpu:.0f}/s on an idle core; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return rate


def main() -> None:
    """Run the benchmark on the chosen databases."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args()
    rates = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="mail-bench-db-") as folder:
            uri = f"sqlite:///{folder}/bench.sqlite3"
            rates.append(run("SQLite", {"SQLALCHEMY_DATABASE_URI": uri}, args.messages))
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
            rates.append(run("PostgreSQL", database, args.messages))
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    if min(rates) < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
