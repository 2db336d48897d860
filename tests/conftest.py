"""Shared fixtures: content, an app per database backend, clients, CLI runner.

Which database a test runs on:
- **Both** (the default): every test that takes the `app` fixture runs on SQLite and, when
  TEST_DATABASE_URL is set, once more on PostgreSQL. That is for every test whose SQL can differ by
  dialect: what is stored and read back (types, lengths, NUL bytes, JSON, time zones, binary
  columns), locking and concurrent writers, counters and their rebuilds, searches (LIKE/ILIKE),
  id ranges (int4 on PostgreSQL), connection loss and the 503 page, migrations.
- **SQLite only**: tests marked `dialect_independent` check what happens before or after the
  database — request parsing, validation and input fuzzing, signed links, headers, cookies, caches,
  escaping, page rendering and HTML validity, rate limits, the guard of webhook addresses — on a
  database that is only there to hold the page's data. Their PostgreSQL variant is deselected,
  not skipped (CI's strict-skip rule counts skips).

The schema comes from the real migrations, applied once per session per backend; each test gets a
copy of the migrated SQLite file of its own (nothing to empty afterwards), or the PostgreSQL schema
emptied after it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from quiz import caches, create_app, result_chart
from quiz.charts import Bar
from quiz.coach import accounts
from quiz.domain.content import Content, load_content
from quiz.extensions import db
from tests.clock import FakeClock
from tests.mailserver import MailServer
from tests.url_builders import shared_url_builders

ROOT = Path(__file__).resolve().parent.parent
# The coach accounts' own password hasher, before `_cheap_password_hashing` swaps it.
PRODUCTION_HASHER = accounts._hasher


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2id at the library's cheapest parameters inside the test processes.

    The tests log coaches in and out hundreds of times; at the production cost (about 0.2 s a
    hash or a check on this machine) that was a third of the suite's CPU time. The hashes stay
    argon2id and are checked the same way; test_coach_web checks the production parameters, and
    commands run in subprocesses use them.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        accounts._dummy_hash.cache_clear()
        yield
    accounts._dummy_hash.cache_clear()


@pytest.fixture(autouse=True, scope="session")
def _result_charts_drawn_once() -> Iterator[None]:
    """A result chart drawn once per test process for each set of bars, then handed out again.

    The result page and the summary email draw a taker's chart with matplotlib (about 0.1 s),
    and most tests' takers answer alike: seven files of mail tests drew 65 charts of 8 distinct
    bar sets, a fifth of their CPU time. The drawing is a pure function of the bars (Agg is
    deterministic), so a chart handed out again is the chart that would be drawn; the first of
    each is drawn by the real code, and `tests/test_charts.py` draws every chart it checks.
    """
    drawn: dict[tuple[Bar, ...], bytes] = {}
    draw = result_chart.score_chart_png

    def drawn_once(bars: Sequence[Bar]) -> bytes:
        key = tuple(bars)
        if key not in drawn:
            drawn[key] = draw(bars)
        return drawn[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(result_chart, "score_chart_png", drawn_once)
        yield


@pytest.fixture(autouse=True, scope="session")
def _shared_url_builders() -> Iterator[None]:
    """Each app's URL rules reuse the builders compiled for the first (tests/url_builders.py)."""
    with shared_url_builders():
        yield


def _own_redis_database() -> None:
    """Under pytest-xdist each worker counts rate limits in a Redis database of its own.

    Rate-limit tests reset and count keys that do not name the test (the client address, the
    endpoint); two workers sharing one database would see each other's counts.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get("TEST_REDIS_URL")
    if url and worker.startswith("gw"):
        base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
        os.environ["TEST_REDIS_URL"] = f"{base}/{1 + int(worker[2:])}"


_own_redis_database()
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL_CONTENT = ROOT / "content" / "questions.yaml"
TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


@pytest.fixture(scope="session")
def mini_content() -> Content:
    """A small hand-checkable content file."""
    return load_content(FIXTURES / "mini.yaml")


@pytest.fixture(scope="session")
def content() -> Content:
    """The real content file."""
    return load_content(REAL_CONTENT)


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def base_config(database_uri: str, instance: Path) -> dict[str, Any]:
    """Config for a test app: fast, deterministic, no network."""
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "RATELIMIT_ENABLED": False,
        "MAIL_DIR": str(instance / "mail"),
        "QUIZ_DELETION_LOG": str(instance / "deletion-log.jsonl"),
        "PUBLIC_URL": "http://quiz.test",
        # Production renders PDFs at nice 19 so quiz requests win the CPU; here the other test
        # workers are the busy ones, and a niced renderer waited on them for up to half a
        # minute per PDF. bench/report_pdf.py measures production's setting.
        "QUIZ_REPORT_NICE": 0,
        # Every counted landing view written at once, so a test reads it straight after.
        "QUIZ_VISIT_FLUSH_SECONDS": 0,
    }


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the schema from the migrations, copied fresh for each test."""
    instance = tmp_path_factory.mktemp("sqlite-template")
    path = instance / "template.sqlite3"
    app = create_app(base_config(f"sqlite:///{path}", instance))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A private schema in the TEST_DATABASE_URL database, migrated once per session.

    Each test session gets its own schema (search_path), so parallel runs never clash.
    """
    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (set by .ci/run)")
    from quiz.config import database_url

    schema = f"test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url(url))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # synchronous_commit=off: a commit returns before its WAL reaches the disk (1-2 ms a
    # commit here, and the tests commit thousands of times). What other connections see, the
    # locks and the order are the same; only a crash of the server could lose the last commits,
    # and no test crashes this one.
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "connect_args": {"options": f"-c search_path={schema} -c synchronous_commit=off"},
        },
    }
    instance = tmp_path_factory.mktemp("pg-template")
    app = create_app({**base_config(url, instance), **config})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield config
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _empty_tables(app: Flask) -> None:
    """Empty every table of the PostgreSQL schema and restart its id sequences.

    DELETE, not TRUNCATE: on tables this small, TRUNCATE's new files per table cost about half a
    second a test, DELETE a few milliseconds.
    """
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
            sequences = conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                )
            ).scalars()
            for sequence in sequences:
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        db.engine.dispose()


class TemplateCodeCache(BytecodeCache):
    """Compiled templates shared by every app a test process builds.

    Each test builds an app, and each app's Jinja environment compiled every template it
    rendered anew: about a fifth of a typical test's CPU time. Jinja's bytecode cache is keyed
    by the template's name and a checksum of its source, so a changed template is compiled
    again; the apps are built alike (the same filters and globals), so the code fits them all.
    """

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = TemplateCodeCache()


def share_template_code(app: Flask) -> Flask:
    """Let `app` render with the process's compiled templates (TemplateCodeCache)."""
    app.jinja_env.bytecode_cache = TEMPLATE_CODE
    return app


# The first engine of each kind a test process made, after its first connection.
_STATEMENT_ENGINES: dict[str, Engine] = {}


def share_compiled_statements(app: Flask) -> Flask:
    """Let `app`'s engine use the SQL its process compiled for earlier apps' engines.

    SQLAlchemy keeps compiled statements per engine, keyed by the engine's dialect object, and
    every test builds an app and so an engine: each test compiled every statement it ran anew,
    a tenth of a typical test's CPU time (seven test files compiled 5,638 statements, 1,332 with
    the sharing). The engines of one process are made alike (the same URL scheme, driver,
    options and server), so the first one's dialect, once it has connected and read the
    server's version, and its cache of compiled statements serve them all. Each engine still
    opens its own connections to its own database, with its own pool and events.
    """
    with app.app_context():
        engine = db.engine
        kind = engine.url.drivername
        first = _STATEMENT_ENGINES.get(kind)
        if first is None:
            with engine.connect():  # the dialect reads the server's version and features
                pass
            _STATEMENT_ENGINES[kind] = engine
        else:
            engine.dialect = first.dialect
            engine._compiled_cache = first._compiled_cache
    return app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The app on a fresh, migrated database: SQLite, and PostgreSQL when configured."""
    overrides = getattr(request, "param_overrides", {})
    marker = request.node.get_closest_marker("app_config")
    if marker:
        overrides = {**overrides, **marker.kwargs}
    if request.param == "sqlite":
        path = tmp_path / "quiz.sqlite3"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
        database = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
    else:
        database = request.getfixturevalue("migrated_postgres")
    uri = database["SQLALCHEMY_DATABASE_URI"]
    application = share_compiled_statements(
        share_template_code(create_app({**base_config(uri, tmp_path), **database, **overrides}))
    )
    yield application
    if request.param == "sqlite":
        # The file is the test's own and goes with its tmp_path: nothing to empty.
        with application.app_context():
            db.engine.dispose()
    else:
        _empty_tables(application)


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    """The clock of the app's TTL caches, moved by hand (`clock.advance(seconds)`)."""
    fake = FakeClock()
    caches.of(app).clock = fake
    return fake


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) in this process that accepts everything unless told
    otherwise; a test module may define its own (without SMTPUTF8, say)."""
    server = MailServer().start()
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    """Register our markers (also listed in pyproject.toml)."""
    config.addinivalue_line("markers", "app_config(**kw): extra config for the app fixture")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run `dialect_independent` tests on SQLite only (see the module docstring)."""
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("app") == "postgres"
        if on_postgres and item.get_closest_marker("dialect_independent"):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = sorted(keep, key=_start_rank)


def _start_rank(item: pytest.Item) -> int:
    """The longest test files first: the two app hosts, then the browser tests.

    Under `--dist loadfile --no-loadscope-reorder` (the Makefile's) the workers take the files in
    this order; started last, each of these (up to a minute) kept one worker busy after the other
    had finished. xdist's default order, most tests first, put them at the very end.
    """
    if item.get_closest_marker("two_hosts"):
        return 0
    return 1 if item.nodeid.startswith("tests/e2e/") else 2


_strict_skips: list[str] = []
# Tests CI must run: browser, PostgreSQL, the deployment tools (systemd-analyze, caddy), and the
# two app hosts (network namespaces, root).
STRICT_MARKS = ("e2e", "postgres", "deploy_tools", "two_hosts")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember skipped browser, PostgreSQL and deployment-tool tests; CI must run them all."""
    if report.skipped and any(mark in report.keywords for mark in STRICT_MARKS):
        _strict_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With QUIZ_STRICT_SKIPS=1 (CI), a skipped test of STRICT_MARKS fails the run."""
    if os.environ.get("QUIZ_STRICT_SKIPS") == "1" and _strict_skips:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"QUIZ_STRICT_SKIPS: {len(_strict_skips)} browser/PostgreSQL/deployment test(s) "
                "skipped, "
                f"e.g. {_strict_skips[0]}",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
