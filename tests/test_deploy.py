"""deploy/ (issue 27, item 1): the systemd units and the Caddyfile are valid, sandboxed, and do
what they say.

`systemd-analyze` (Debian's systemd) and `caddy` (Debian's caddy) run where installed; `make
test` installs both as root (scripts/install-system-deps.sh --test), and CI fails when these
tests are skipped (the `deploy_tools` mark counts for QUIZ_STRICT_SKIPS).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from quiz import create_app
from tests.conftest import base_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
SERVICES = sorted(UNITS.glob("*.service"))
LONG_RUNNING = {
    "engpass-quiz-web.service",
    "engpass-quiz-mail.service",
    "engpass-quiz-webhooks.service",
    "engpass-quiz-pdf.service",
}
WRITABLE = {"engpass-quiz/instance", "engpass-quiz/metrics", "engpass-quiz/backups"}
# systemd-analyze security's exposure score (0 safe ... 10 unsafe). What keeps it above 0 is
# listed in the README ("What the sandbox leaves open").
MAX_EXPOSURE = 1.2

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing (Debian's systemd; make test installs it as root)",
)
needs_caddy = pytest.mark.skipif(
    shutil.which("caddy") is None,
    reason="caddy is missing (Debian's caddy; make test installs it as root)",
)


def directives(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every setting of a unit file, in order (keys may repeat)."""
    found = []
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key, value))
    return found


def values(path: Path, key: str) -> list[str]:
    return [value for _, name, value in directives(path) if name == key]


def sandbox(path: Path) -> list[tuple[str, str]]:
    """The settings below the unit's '--- sandbox' line: the part every service shares."""
    text = path.read_text(encoding="utf-8")
    shared = text.split("# --- sandbox", 1)[1].split("\n\n", 1)[0]
    return [
        (key, value)
        for line in shared.splitlines()[1:]
        if line and not line.startswith("#")
        for key, _, value in [line.partition("=")]
    ]


@pytest.fixture(scope="module")
def units_here(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units with /opt/engpass-quiz pointing at this checkout, whose .venv has the commands."""
    folder = tmp_path_factory.mktemp("units")
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8").replace("/opt/engpass-quiz", str(ROOT))
        (folder / unit.name).write_text(text, encoding="utf-8")
    return folder


# --- the units ---------------------------------------------------------------------------------


def test_there_is_a_unit_for_every_process_and_the_target_starts_them_all() -> None:
    names = {unit.name for unit in UNITS.iterdir()}
    assert names == LONG_RUNNING | {
        "engpass-quiz-purge.service",
        "engpass-quiz-purge.timer",
        "engpass-quiz-backup.service",
        "engpass-quiz-backup.timer",
        "engpass-quiz.target",
    }
    wanted = {
        name for line in values(UNITS / "engpass-quiz.target", "Wants") for name in line.split()
    }
    assert wanted == LONG_RUNNING | {"engpass-quiz-purge.timer", "engpass-quiz-backup.timer"}
    for name in LONG_RUNNING:
        assert values(UNITS / name, "PartOf") == ["engpass-quiz.target"]
        assert values(UNITS / name, "Restart") == ["on-failure"]
    web = UNITS / "engpass-quiz-web.service"
    (start,) = values(web, "ExecStart")
    assert "gunicorn -c python:quiz.gunicorn_conf" in start and "'quiz:create_app()'" in start
    assert values(UNITS / "engpass-quiz-mail.service", "ExecStart")[0].endswith(
        "flask --app quiz send-mail --watch --interval 5"
    )
    assert (
        "send-webhooks --watch" in values(UNITS / "engpass-quiz-webhooks.service", "ExecStart")[0]
    )
    assert values(UNITS / "engpass-quiz-pdf.service", "ExecStart")[0].endswith(
        "flask --app quiz render-pdfs --watch --interval 2"
    )
    # Its CPU budget: below the web server's group, not only below its processes (nice).
    assert values(UNITS / "engpass-quiz-pdf.service", "CPUWeight") == ["1"]
    assert values(UNITS / "engpass-quiz-pdf.service", "IPAddressDeny") == ["any"]
    assert values(UNITS / "engpass-quiz-purge.service", "ExecStart")[0].endswith("quiz purge")
    assert (
        "quiz backup /var/lib/engpass-quiz/backups"
        in values(UNITS / "engpass-quiz-backup.service", "ExecStart")[0]
    )
    for timer in ("engpass-quiz-purge.timer", "engpass-quiz-backup.timer"):
        assert values(UNITS / timer, "Persistent") == ["true"]


def test_every_service_runs_as_the_site_user_in_the_same_sandbox() -> None:
    shared = sandbox(SERVICES[0])
    assert ("ProtectSystem", "strict") in shared and ("MemoryDenyWriteExecute", "yes") in shared
    for service in SERVICES:
        assert sandbox(service) == shared, service.name
        assert values(service, "User") == ["engpass-quiz"]
        assert values(service, "EnvironmentFile") == ["/etc/engpass-quiz/env"]
        # Writable: the state folders named here and the cache, nothing else.
        state = {path for line in values(service, "StateDirectory") for path in line.split()}
        assert "engpass-quiz/instance" in state and state <= WRITABLE, service.name
        assert values(service, "CacheDirectory") == ["engpass-quiz"]
        assert values(service, "ReadWritePaths") == []
        assert values(service, "UMask") == ["0077"]
        environment = " ".join(values(service, "Environment"))
        assert "MPLCONFIGDIR=/var/cache/engpass-quiz/matplotlib" in environment
        assert "XDG_CACHE_HOME=/var/cache/engpass-quiz" in environment  # fontconfig's cache
        assert "QUIZ_INSTANCE_PATH=/var/lib/engpass-quiz/instance" in environment


def test_the_web_servers_metrics_folder_is_one_it_may_write() -> None:
    web = UNITS / "engpass-quiz-web.service"
    environment = dict(setting.partition("=")[::2] for setting in values(web, "Environment"))
    state = {path for line in values(web, "StateDirectory") for path in line.split()}
    folder = environment["PROMETHEUS_MULTIPROC_DIR"]
    assert folder.removeprefix("/var/lib/") in state, folder


def test_the_admin_command_runs_with_the_units_environment() -> None:
    script = (DEPLOY / "engpass-quiz").read_text(encoding="utf-8")
    assignments = dict(re.findall(r"^([A-Z_]+)=(\S+)$", script, re.MULTILINE))
    web = UNITS / "engpass-quiz-web.service"
    for setting in values(web, "Environment"):
        name, _, value = setting.partition("=")
        # Read by gunicorn and its workers only, never by a command.
        if name not in {"WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"}:
            assert assignments.get(name) == value, name
    assert 'runuser -u "$USER_NAME"' in script and assignments["USER_NAME"] == "engpass-quiz"
    subprocess.run(["sh", "-n", str(DEPLOY / "engpass-quiz")], check=True)


@pytest.mark.deploy_tools
@needs_systemd
def test_the_units_pass_systemd_analyze_verify(units_here: Path) -> None:
    units = sorted(str(unit) for unit in units_here.iterdir())
    run = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, check=False
    )
    # verify exits 0 on an unknown or misspelt setting and only prints it, so no output at all.
    assert run.returncode == 0 and (run.stdout + run.stderr).strip() == "", run.stdout + run.stderr


@pytest.mark.deploy_tools
@needs_systemd
def test_systemd_analyze_verify_reports_a_misspelt_setting(
    units_here: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "engpass-quiz-web.service"
    text = (units_here / "engpass-quiz-web.service").read_text(encoding="utf-8")
    broken.write_text(text.replace("ProtectHome=yes", "ProtectHom=yes"), encoding="utf-8")
    run = subprocess.run(
        ["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, check=False
    )
    assert "Unknown key 'ProtectHom'" in run.stdout + run.stderr


@pytest.mark.deploy_tools
@needs_systemd
@pytest.mark.parametrize("service", [unit.name for unit in SERVICES])
def test_each_service_is_sandboxed_to_a_low_exposure(units_here: Path, service: str) -> None:
    run = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(units_here / service)],
        capture_output=True,
        text=True,
        check=True,
    )
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", run.stdout)[1])  # type: ignore[index]
    assert exposure <= MAX_EXPOSURE, run.stdout


_UNDER_W_XOR_X = """
import ctypes, sys
from argon2 import PasswordHasher
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(65, 1, 0, 0, 0) == 0 and libc.prctl(66, 0, 0, 0, 0) == 1
import psycopg, redis
from quiz import create_app
from quiz.charts import Bar, score_chart_png
from quiz.taker.pdf_render import RenderJob, render_pdf
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "k" * 40, "TESTING": True})
bars = (Bar(label="Preise", score=40, band_position=0),)
assert score_chart_png(bars)[:4] == b"\\x89PNG"
assert render_pdf(RenderJob(html='<html lang="de"><h1>Bericht</h1>', css="h1{color:red}", bars=bars)).pdf[:4] == b"%PDF"
PasswordHasher().hash("passwort")
print("ok")
"""


def test_the_app_runs_where_memory_may_not_be_writable_and_executable(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes in the units: nothing the app loads may need W+X memory."""
    probe = subprocess.run(
        [sys.executable, "-c", "import ctypes,sys; sys.exit(ctypes.CDLL(None).prctl(65,1,0,0,0))"],
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+) to try W^X with")
    run = subprocess.run(
        [sys.executable, "-c", _UNDER_W_XOR_X, f"sqlite:///{tmp_path / 'quiz.sqlite3'}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "QUIZ_INSTANCE_PATH": str(tmp_path)},
        check=False,
        timeout=120,
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]


# --- the Caddyfile -----------------------------------------------------------------------------


def _caddy_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


@pytest.mark.deploy_tools
@needs_caddy
def test_the_caddyfile_is_valid_and_formatted(tmp_path: Path) -> None:
    caddyfile = DEPLOY / "Caddyfile"
    run = subprocess.run(
        ["caddy", "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=_caddy_env(tmp_path),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Valid configuration" in run.stdout + run.stderr
    assert '"level":"warn"' not in run.stderr, run.stderr  # e.g. "input is not formatted"
    formatted = subprocess.run(
        ["caddy", "fmt", str(caddyfile)], capture_output=True, text=True, check=True
    )
    assert formatted.stdout == caddyfile.read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def app_behind_caddy(
    tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path
) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """The app on a local port as gunicorn would serve it, and Caddy with the deployed
    Caddyfile in front (on plain http, its site address and upstream pointed at local ports).
    Yields Caddy's port and what the app saw of each request (client address, scheme)."""
    if shutil.which("caddy") is None:
        pytest.skip("caddy is missing (Debian's caddy; make test installs it as root)")
    tmp_path = tmp_path_factory.mktemp("caddy")
    shutil.copy(migrated_sqlite, tmp_path / "quiz.sqlite3")
    uri = f"sqlite:///{tmp_path / 'quiz.sqlite3'}"
    app: Flask = create_app({**base_config(uri, tmp_path), "QUIZ_TRUSTED_PROXIES": 1})
    seen: list[tuple[str, str]] = []

    @app.before_request
    def spy() -> None:
        seen.append((request.remote_addr or "", request.scheme))

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = _free_port()
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert "quiz.example.com {" in text and "reverse_proxy 127.0.0.1:8000" in text
    text = text.replace("quiz.example.com {", f"http://127.0.0.1:{port} {{")
    text = text.replace("127.0.0.1:8000", f"127.0.0.1:{server.server_port}")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text("{\n\tadmin off\n}\n\n" + text, encoding="utf-8")
    caddy = subprocess.Popen(
        ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        env=_caddy_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert caddy.poll() is None, caddy.stderr.read().decode() if caddy.stderr else ""
                assert time.monotonic() < deadline, "caddy did not start"
                time.sleep(0.05)
        yield port, seen
    finally:
        caddy.terminate()
        caddy.wait(timeout=20)
        if caddy.stderr:
            caddy.stderr.close()
        server.shutdown()


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.mark.deploy_tools
@needs_caddy
def test_caddy_adds_the_headers_the_app_leaves_out_and_keeps_the_apps_own(
    app_behind_caddy: tuple[int, list[tuple[str, str]]],
) -> None:
    port, _ = app_behind_caddy
    page = _get(port, "/")
    assert page.status == 200
    assert page.getheader("Permissions-Policy", "").startswith("accelerometer=()")
    assert page.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert page.getheader("Cross-Origin-Resource-Policy") == "same-origin"
    assert page.getheader("Server") is None
    # The app's own policy, once, not Caddy's default for its own responses.
    assert page.headers.get_all("Content-Security-Policy") == [
        page.getheader("Content-Security-Policy")
    ]
    assert "script-src 'self'" in page.getheader("Content-Security-Policy", "")
    assert page.headers.get_all("X-Content-Type-Options") == ["nosniff"]


@pytest.mark.deploy_tools
@needs_caddy
def test_the_app_sees_the_clients_address_through_caddy_not_a_forged_one(
    app_behind_caddy: tuple[int, list[tuple[str, str]]],
) -> None:
    port, seen = app_behind_caddy
    _get(port, "/healthz", {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert seen[-1] == ("127.0.0.1", "http")  # what Caddy saw, not what the client claimed
