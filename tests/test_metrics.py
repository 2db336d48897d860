"""`/metrics`: hidden without the token, the documented series with it, the database's figures
right on both databases, and gunicorn's workers added up (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from quiz.config import load_config
from quiz.deploy import problems
from quiz.mail import pause
from quiz.models import utcnow
from quiz.ops import gauges
from quiz.taker import pdf_store
from quiz.webhooks import endpoints
from tests.conftest import ROOT, TEST_SECRET
from tests.factories import finished_response
from tests.test_log_redaction import free_port

TOKEN = "metrics-token-0123456789-abcdefghijklmnop"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def documented_series() -> set[str]:
    """The metric names the README's Metrics section lists (its table's first column)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(quiz_[a-z_]+)`", section, re.MULTILINE))


@pytest.mark.dialect_independent
def test_metrics_is_404_when_no_token_is_configured(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.dialect_independent
@pytest.mark.app_config(QUIZ_METRICS_TOKEN=TOKEN)
def test_metrics_is_404_without_the_token_or_with_a_wrong_one(client: FlaskClient) -> None:
    for headers in (
        {},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404, headers
        assert b"quiz_" not in response.data


@pytest.mark.dialect_independent
@pytest.mark.app_config(QUIZ_METRICS_TOKEN=TOKEN)
def test_metrics_with_the_token_has_every_documented_series(client: FlaskClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    assert (
        response.headers["Cache-Control"] == "private, no-store"
    )  # every non-public route (issue 21, finding 7)
    names = {family.name for family in text_string_to_metric_families(response.text)}
    documented = documented_series()
    assert len(documented) >= 14
    # A counter's family is named without its `_total`; the README names the series.
    exposed = {n for n in names if n.startswith("quiz_")}
    exposed = {f"{n}_total" if n == "quiz_http_requests" else n for n in exposed}
    assert sorted(documented - exposed) == [] and sorted(exposed - documented) == []


@pytest.mark.dialect_independent
def test_check_deploy_warns_of_a_short_metrics_token(tmp_path: Path) -> None:
    def named(token: str) -> list[str]:
        config = load_config({"QUIZ_METRICS_TOKEN": token}, tmp_path)
        return [p.setting for p in problems(config, debug=False) if not p.fatal]

    assert "QUIZ_METRICS_TOKEN" in named("kurz")
    assert "QUIZ_METRICS_TOKEN" not in named(TOKEN)
    assert "QUIZ_METRICS_TOKEN" not in named("")  # unset: /metrics is off, nothing to guess


@pytest.mark.dialect_independent
@pytest.mark.app_config(QUIZ_METRICS_TOKEN=TOKEN)
def test_requests_are_counted_by_endpoint_name_never_the_raw_path(client: FlaskClient) -> None:
    before = samples(client.get("/metrics", headers=BEARER).text)
    client.get("/healthz")
    client.get("/r/not-a-real-token-abcdef")
    client.get("/no/such/page-secret-path")
    client.open("/healthz", method="BREW")
    after = client.get("/metrics", headers=BEARER).text
    found = samples(after)

    def delta(name: str, **labels: str) -> float:
        return value(found, name, **labels) - value(before, name, **labels)

    assert delta("quiz_http_requests_total", endpoint="health.healthz", status="200") == 1
    assert delta("quiz_http_requests_total", endpoint="public.result", status="404") == 1
    assert delta("quiz_http_requests_total", endpoint="unmatched", status="404") == 1
    assert delta("quiz_http_requests_total", method="other", status="405") == 1
    assert delta("quiz_http_request_duration_seconds_count", endpoint="health.healthz") == 1
    assert "not-a-real-token" not in after and "secret-path" not in after and "BREW" not in after


@pytest.mark.app_config(QUIZ_METRICS_TOKEN=TOKEN)
def test_the_database_figures_at_scrape_time(app: Flask, client: FlaskClient) -> None:
    empty = samples(client.get("/metrics", headers=BEARER).text)
    assert value(empty, "quiz_metrics_database_up") == 1
    assert value(empty, "quiz_finished_responses") == 0
    assert value(empty, "quiz_outbox_oldest_due_seconds") == 0
    with app.app_context():
        endpoints.add_endpoint("http://127.0.0.1:9/hook")
    finished_response(app, seed=1)
    finished_response(app, seed=2, email=None)
    with app.app_context():
        now = utcnow()
        # Ten minutes on, the summary still waits: the oldest due message is that old.
        later = gauges.read(now + timedelta(minutes=10))
        assert later.outbox_due == 1 and 599 <= later.outbox_oldest_due_seconds <= 601
        assert later.deliveries_oldest_due_seconds >= 599
        pause.record_failure(app, "connection refused", "connect", now, waiting=1)
        # Both finishes queued their PDF (the background renderer's queue); one is claimed.
        [claim] = pdf_store.claim_due(1, now)
    queued = samples(client.get("/metrics", headers=BEARER).text)
    assert value(queued, "quiz_finished_responses") == 2
    assert value(queued, "quiz_emails", state="queued") == 1
    assert value(queued, "quiz_emails", state="sent") == 0
    assert value(queued, "quiz_outbox_due_messages") == 1
    assert value(queued, "quiz_webhook_deliveries", state="queued") == 2
    assert value(queued, "quiz_webhook_deliveries", state="failed") == 0
    assert value(queued, "quiz_webhook_delivered_last_day") == 0
    assert value(queued, "quiz_mail_sender_paused") == 1
    assert value(queued, "quiz_mail_sender_failures") == 1
    assert value(queued, "quiz_pdf_queue_length") == 2
    assert value(queued, "quiz_pdf_renders_last_hour") == 0
    with app.app_context():
        assert pdf_store.store(claim, b"%PDF-1.7", 1500)
        pause.record_recovery(utcnow())
    stored = samples(client.get("/metrics", headers=BEARER).text)
    assert value(stored, "quiz_pdf_queue_length") == 1
    assert value(stored, "quiz_pdf_renders_last_hour") == 1
    assert value(stored, "quiz_pdf_render_seconds_last_hour", stat="mean") == 1.5
    assert value(stored, "quiz_mail_sender_paused") == 0


# --- gunicorn's workers, added up -------------------------------------------------------------


@pytest.fixture
def two_workers(tmp_path: Path, migrated_sqlite: Path) -> Iterator[tuple[int, Path]]:
    """gunicorn -w 2 with quiz.gunicorn_conf on a copy of the migrated database; port, folder."""
    database = tmp_path / "quiz.sqlite3"
    shutil.copy(migrated_sqlite, database)
    folder = tmp_path / "instance" / "metrics"
    folder.mkdir(parents=True)
    (folder / "counter_1.db").write_bytes(b"left by an earlier run")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS")},
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": f"sqlite:///{database}",
        "QUIZ_INSTANCE_PATH": str(tmp_path / "instance"),
        "QUIZ_METRICS_TOKEN": TOKEN,
        "QUIZ_RATELIMIT": "false",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            "python:quiz.gunicorn_conf",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "quiz:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield port, folder
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a connection of its own (so gunicorn may hand it to either worker)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_scrape_adds_up_every_gunicorn_workers_counts(two_workers: tuple[int, Path]) -> None:
    port, folder = two_workers
    answered = 0
    deadline = time.monotonic() + 120
    while True:  # until both workers have booted and answered
        assert time.monotonic() < deadline, "both workers should answer within two minutes"
        try:
            status, _ = get(port, "/healthz")
        except OSError:
            time.sleep(0.2)
            continue
        answered += status == 200
        pids = {path.stem.rsplit("_", 1)[1] for path in folder.glob("counter_*.db")}
        if len(pids) >= 2 and answered >= 20:
            break
        with ThreadPoolExecutor(4) as pool:
            answered += sum(
                s == 200 for s, _ in pool.map(lambda _: get(port, "/healthz"), range(4))
            )
    assert "1" not in pids, "the files of an earlier run are removed at start"
    status, body = get(port, "/metrics", BEARER)
    assert status == 200
    found = samples(body)
    assert value(found, "quiz_http_requests_total", endpoint="health.healthz") == answered
    assert (
        value(found, "quiz_http_request_duration_seconds_count", endpoint="health.healthz")
        == answered
    )
    # Both workers answered some (each has its counter file), and the scrape, answered by one
    # of them, counted them all.
    assert get(port, "/metrics")[0] == 404
