"""No email address reaches a log, however it is spelled: percent-encoded once or twice, in the
path, the query or the Referer, and in gunicorn's own access and error logs."""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from quiz.web.security import RedactingFilter, redact
from tests.conftest import ROOT, TEST_SECRET

ADDRESS_SPELLINGS = [
    "xss1%40example.org",  # what a browser's search form sends
    "kunde%2540example.org",  # encoded twice, as in a forwarded tracking link
    "Kunde%40Beispiel%2Ede",  # upper-case hex for the dot
    "kunde%40beispiel%2ede",  # lower-case hex for the dot
    "j%C3%B6rg.m%C3%BCller%40example.org",  # non-ASCII local part, encoded
    "kunde%40m%C3%BCller-beratung.de",  # non-ASCII domain, encoded
    "a.b%2Bc%40sub.example.com",
    "kunde@example.org",
    "o'brien@example.org",  # raw characters every local part may carry (issue 21, finding 9)
    "kunde!ost@example.org",
    "{kunde}#1$*^`|~@example.org",
]


@pytest.mark.parametrize("spelling", ADDRESS_SPELLINGS)
def test_redact_catches_every_spelling_of_an_address(spelling: str) -> None:
    for text in (
        f"GET /coach/leads?q={spelling} HTTP/1.1",
        f"/?utm_source=news&utm_term={spelling}&utm_medium=mail",
        f'"https://www.google.com/search?q={spelling}"',
    ):
        redacted = redact(text)
        assert spelling not in redacted and "[E-Mail]" in redacted, text
        for piece in ("%40", "%2540", "example", "Beispiel", "beispiel", "kunde", "Kunde"):
            assert piece not in redacted, (text, redacted)


def test_redact_covers_the_whole_local_part() -> None:
    for address in ("o'brien@example.org", "kunde!ost@example.org", "{a}#1$*^`|~b@example.org"):
        assert redact(f"from {address} today") == "from [E-Mail] today", address
        assert redact(f"GET /?q={address}&x=1") == "GET /?q=[E-Mail]&x=1", address


def test_redact_keeps_text_that_is_no_address() -> None:
    for text in ("GET /coach/?from=2026-01-01&to=2026-03-31", "50%40 Rabatt", "version 2026.1"):
        assert redact(text) == text


def test_redact_catches_encoded_secret_links() -> None:
    assert redact("next=%2Fr%2FsEcReT-t0ken%3Fx") == "next=%2Fr%2F…%3Fx"
    assert redact("https://quiz.example/daten/a.b.c") == "https://quiz.example/daten/…"


def test_the_filter_redacts_gunicorns_access_record_with_its_atoms() -> None:
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        '%(r)s "%(f)s"',
        ({"r": "GET /?q=a%40example.org HTTP/1.1", "f": "https://x.example/?e=b%2540example.org"},),
        None,
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == 'GET /?q=[E-Mail] HTTP/1.1 "https://x.example/?e=[E-Mail]"'


# --- gunicorn, for real ---------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    """A WSGI app that installs no log filter itself: only gunicorn's config can redact its log."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], tuple[int, Path, Path]]]:
    """Start gunicorn with quiz.gunicorn_conf on a free loopback port; returns port and logs."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(app: str, env: dict[str, str]) -> tuple[int, Path, Path]:
        port = free_port()
        access, errors = tmp_path / "access.log", tmp_path / "error.log"
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "python:quiz.gunicorn_conf",
                "--chdir",
                str(ROOT),
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{port}",
                "--access-logfile",
                str(access),
                "--error-logfile",
                str(errors),
                app,
            ],
            env={**os.environ, **env},
            cwd=tmp_path,
        )
        processes.append(process)
        deadline = time.time() + 30
        while time.time() < deadline:
            assert process.poll() is None, errors.read_text() if errors.exists() else "no log"
            try:
                get(port, "/healthz")
                return port, access, errors
            except OSError:
                time.sleep(0.2)
        raise AssertionError("gunicorn did not come up")

    yield run
    for process in processes:
        process.terminate()
        process.wait(timeout=20)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    """One GET; returns the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def requests_with_addresses(port: int) -> None:
    """The requests that put addresses into an access log line: path, query, Referer."""
    for spelling in ADDRESS_SPELLINGS[:4]:
        get(port, f"/coach/leads?q={spelling}")
        get(
            port,
            f"/?utm_source=news&utm_term={spelling}",
            {"Referer": f"https://www.google.com/search?q={spelling}"},
        )
    get(port, "/r/geheimes-token-123", {"Referer": "https://quiz.example/daten/a.b.c"})


def wait_for_lines(log: Path, count: int) -> list[str]:
    """The access log's lines, once gunicorn has written at least `count` of them."""
    deadline = time.time() + 10
    lines: list[str] = []
    while time.time() < deadline:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        if len(lines) >= count:
            break
        time.sleep(0.1)
    return lines


def assert_no_addresses(lines: list[str]) -> None:
    text = "\n".join(lines)
    for piece in ("%40", "%2540", "example.org", "Beispiel", "beispiel", "xss1", "kunde", "Kunde"):
        assert piece not in text, (piece, text)
    assert "geheimes-token" not in text and "a.b.c" not in text


def test_gunicorn_config_redacts_the_access_log_of_any_app(
    gunicorn: Callable[[str, dict[str, str]], tuple[int, Path, Path]],
) -> None:
    port, access, _errors = gunicorn("tests.test_log_redaction:plain_app", {})
    requests_with_addresses(port)
    lines = wait_for_lines(access, 10)
    assert any(line.startswith("127.0.0.1") and "GET /coach/leads?q=" in line for line in lines)
    assert_no_addresses(lines)
    assert "\n".join(lines).count("[E-Mail]") == 12  # each request line and each Referer


def test_quiz_under_gunicorn_writes_no_address_to_its_logs(
    gunicorn: Callable[[str, dict[str, str]], tuple[int, Path, Path]],
    tmp_path: Path,
    migrated_sqlite: Path,
) -> None:
    database = tmp_path / "quiz.sqlite3"
    shutil.copy(migrated_sqlite, database)
    env = {
        "QUIZ_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": TEST_SECRET,
        "QUIZ_RATELIMIT": "false",
    }
    port, access, errors = gunicorn("quiz:create_app()", env)
    requests_with_addresses(port)
    lines = wait_for_lines(access, 10)
    assert any('"GET /coach/leads?q=[E-Mail] HTTP/1.1" 302' in line for line in lines), lines
    assert_no_addresses(lines)
    assert "\n".join(lines).count("[E-Mail]") == 12
    assert_no_addresses(errors.read_text(encoding="utf-8").splitlines())
    # No control socket: every gunicorn on the host would share its one default path.
    assert "Control socket listening" not in errors.read_text(encoding="utf-8")
