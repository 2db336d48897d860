"""Webhook sender throughput: how many signed events per second reach a local receiver.

    .venv/bin/python bench/webhook_throughput.py [--events 2000] [--db sqlite|postgresql|both]

Builds a fresh database (SQLite in a temporary folder; PostgreSQL in a schema of its own in
BENCH_PG_URL's database), adds one endpoint, queues EVENTS `quiz.completed` events of a
realistic size through `queue_event`, and lets `quiz.webhooks.sender.deliver_due` deliver them
all to an HTTP receiver in a process of its own that verifies every signature with the
standardwebhooks library. Each event is claimed in a batch, resolved and checked by the URL
guard, signed, POSTed over a kept-alive connection and recorded in its own transaction.
Prints deliveries per second; the target is at least 100.
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
TARGET = 100.0

# The receiver runs in a process of its own, as a real one would: in this process it would
# compete with the sender for the interpreter lock. It verifies every request, answers 204 and
# prints "<received> <verified>" when its standard input closes.
RECEIVER = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from standardwebhooks import Webhook, WebhookVerificationError

hook = Webhook(sys.argv[1])
counts = {"received": 0, "verified": 0}
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            hook.verify(body, dict(self.headers.items()))
            ok = 1
        except WebhookVerificationError:
            ok = 0
        with lock:
            counts["received"] += 1
            counts["verified"] += ok
        self.send_response(204 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
sys.stdin.read()
server.shutdown()
print(counts["received"], counts["verified"], flush=True)
"""


class ReceiverProcess:
    """The verifying receiver in a subprocess on a free port."""

    def __init__(self, secret: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, secret],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().strip())

    def stop(self) -> tuple[int, int]:
        """Stop it; how many requests it received and how many verified."""
        output, _ = self.process.communicate("", timeout=30)
        received, verified = output.split()
        return int(received), int(verified)


def _app(database: dict[str, Any], instance: Path) -> Any:
    os.environ["QUIZ_INSTANCE_PATH"] = str(instance)
    from quiz import create_app

    return create_app(
        {
            "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
            "RATELIMIT_ENABLED": False,
            "PUBLIC_URL": "https://quiz.example",
            **database,
        }
    )


def _payload(index: int) -> dict[str, Any]:
    """A `quiz.completed` body of the real size (scores, bands, steps, UTM, contact)."""
    dimensions = ("schmerzgrenze", "werte", "preise", "leadership", "distanz", "trennung")
    return {
        "response_id": index,
        "content_version": "2026.2",
        "finished_at": "2026-12-01T10:00:00Z",
        "scores": {d: (index * 7 + n * 13) % 101 for n, d in enumerate(dimensions)},
        "bands": {d: "ausbaufaehig" for d in dimensions},
        "bottleneck": {"dimension": "preise", "name": "Preise", "band": "kritisch", "acute": True},
        "runner_up": "werte",
        "next_steps": [
            {"title": f"Ein konkreter nächster Schritt Nummer {n}", "dimension": "preise"}
            for n in range(3)
        ],
        "utm": {"source": "newsletter", "medium": "email", "campaign": "herbst"},
        "result_url": f"https://quiz.example/r/{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "newsletter": "pending",
        "email": f"taker{index}@example.com",
        "first_name": "Anna",
    }


def run(label: str, database: dict[str, Any], events: int) -> float:
    """Prepare, deliver everything, print and return deliveries per second."""
    from flask_migrate import upgrade

    from quiz.database import write
    from quiz.extensions import db
    from quiz.webhooks import endpoints
    from quiz.webhooks.queue import queue_event
    from quiz.webhooks.sender import deliver_due
    from quiz.webhooks.transport import Client

    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as instance:
        app = _app(database, Path(instance))
        secret = endpoints.new_secret()
        receiver = ReceiverProcess(secret)
        try:
            with app.app_context():
                upgrade()
                endpoint, _ = endpoints.add_endpoint(f"http://127.0.0.1:{receiver.port}/hook")
                with write():  # `database` is this function's settings
                    endpoint.secret = secret
                for start in range(0, events, 500):
                    with write():
                        for index in range(start, min(start + 500, events)):
                            queue_event("quiz.completed", _payload(index), response_id=index)
            started = time.perf_counter()
            cpu_started = time.process_time()
            delivered = 0
            with Client(10) as client:
                while True:
                    report = deliver_due(app, client=client)
                    delivered += report.delivered
                    if not report.claimed:
                        break
                    if report.retried or report.failed:
                        raise SystemExit(f"delivery errors: {report.errors[:3]}")
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            with app.app_context():
                db.engine.dispose()
        finally:
            received, verified = receiver.stop()
    if not (received == verified == delivered == events):
        raise SystemExit(
            f"{label}: expected {events}, receiver got {received} ({verified} verified), "
            f"sender recorded {delivered}"
        )
    rate = events / elapsed
    print(
        f"{label}: {events} webhooks in {elapsed:.2f} s = {rate:.0f} deliveries/s "
        f"({1000 * elapsed / events:.1f} ms each; target >= {TARGET:.0f}/s: "
        f"{'ok' if rate >= TARGET else 'MISSED'}); every signature verified by the receiver; "
        f"sender CPU {1000 * cpu / events:.2f} ms per delivery; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return rate


def main() -> None:
    """Run the benchmark on the chosen databases."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args()
    rates = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="webhook-bench-db-") as folder:
            uri = f"sqlite:///{folder}/bench.sqlite3"
            rates.append(run("SQLite", {"SQLALCHEMY_DATABASE_URI": uri}, args.events))
    if args.db in ("postgresql", "both"):
        from sqlalchemy import create_engine, text

        from quiz.config import database_url

        schema = f"webhook_bench_{uuid.uuid4().hex[:8]}"
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
            rates.append(run("PostgreSQL", database, args.events))
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    if min(rates) < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
