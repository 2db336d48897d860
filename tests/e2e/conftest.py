"""Browser tests: the real app served on a local port, driven by Debian's headless Chromium.

Playwright drives Debian's Chromium headless shell (never a downloaded browser): Playwright's own
choice for headless runs, the same Blink as the desktop browser without its machinery, and about
half its CPU per test. Where it is missing, the tests skip and say why; CI (QUIZ_STRICT_SKIPS=1)
turns such a skip into a failure.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from quiz import create_app
from tests.conftest import base_config, share_template_code

# Debian's package chromium-headless-shell (scripts/install-browser.sh); the binary itself, not
# /usr/bin's shell wrapper, which would stay behind as the process Playwright stops.
CHROMIUM = Path("/usr/lib/chromium/chromium-headless-shell")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AXE_SOURCE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Chromium logs every 4xx document on the console; a quiz page that shows validation errors is
# served with 422 on purpose (tests/test_public.py checks the status).
VALIDATION_STATUS = re.compile(r"/quiz/\d+$")
# Tabs opened without JavaScript: axe needs it for a moment (its checks run on timers).
SCRIPTLESS: weakref.WeakSet[Any] = weakref.WeakSet()
# Flags the machine needs: no sandbox as root, and no background traffic to a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@dataclass
class LiveServer:
    """The app served over HTTP on 127.0.0.1 for the browser."""

    app: Flask
    url: str


@pytest.fixture
def live_config() -> dict[str, Any]:
    """Extra app config for the live server; override in a test module to change it."""
    return {}


@pytest.fixture
def live_server(
    migrated_sqlite: Path, tmp_path: Path, live_config: dict[str, Any]
) -> Iterator[LiveServer]:
    """Serve a fresh app on a free port in a background thread."""
    database = tmp_path / "e2e.sqlite3"
    shutil.copy(migrated_sqlite, database)
    app = share_template_code(
        create_app(
            {**base_config(f"sqlite:///{database}", tmp_path), "TESTING": False, **live_config}
        )
    )
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's chromium-headless-shell at {CHROMIUM} "
            "(make test installs it when run as root)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _watched_tab(
    browser: Any, problems: list[str], console_errors: bool, **context_options: Any
) -> Any:
    """A tab in a browser context of its own that reports what the browser complains about.

    Collects every breach of the page's own Content-Security-Policy (Chromium reports each
    blocked style, script or image on the console), every uncaught JavaScript error and, with
    `console_errors`, every other console error but the 422 of a quiz page that shows
    validation errors.
    """
    context = browser.new_context(locale="de-DE", **context_options)
    tab = context.new_page()
    tab.set_default_timeout(15_000)

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            problems.append(f"{tab.url}: {message.text}")
        elif console_errors and message.type == "error":
            validation = "status of 422" in message.text and VALIDATION_STATUS.search(
                message.location.get("url", "")
            )
            if not validation:
                problems.append(f"{tab.url}: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: problems.append(f"{tab.url}: {error}"))
    return tab


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh phone-sized browser tab with its own cookies.

    Fails the test when a page breaks its own Content-Security-Policy or throws a JavaScript
    error.
    """
    problems: list[str] = []
    tab = _watched_tab(browser, problems, False, viewport=PHONE, is_mobile=True, has_touch=True)
    yield tab
    tab.context.close()
    assert problems == [], "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open tabs, each in a browser context of its own: a phone (touch) or a desktop (mouse
    and keyboard), with or without JavaScript. Fails the test as `page` does, and on any other
    console error."""
    problems: list[str] = []
    tabs: list[Any] = []

    def open_one(*, phone: bool = True, javascript: bool = True) -> Any:
        device = (
            {"viewport": PHONE, "is_mobile": True, "has_touch": True}
            if phone
            else {"viewport": DESKTOP}
        )
        tab = _watched_tab(browser, problems, True, java_script_enabled=javascript, **device)
        tabs.append(tab)
        if not javascript:
            SCRIPTLESS.add(tab)
        return tab

    yield open_one
    for tab in tabs:
        tab.context.close()
    assert problems == [], "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """Save a full-page screenshot under tests/e2e/screenshots/<test>/<name>.png."""
    folder = SCREENSHOTS / request.node.name.replace("/", "_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    counter = {"n": 0}

    def take(page: Any, name: str) -> Path:
        counter["n"] += 1
        path = folder / f"{counter['n']:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The axe-core script (npm package, installed by make test)."""
    if not AXE_SOURCE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (make test does)")
    return AXE_SOURCE.read_text(encoding="utf-8")


@pytest.fixture
def check_accessibility(axe_source: str) -> Callable[[Any], None]:
    """Run axe-core on the current page; fail on any WCAG 2 A/AA violation.

    axe runs on timers, which a tab without JavaScript never fires: there it checks a copy of
    the page as that tab shows it (its DOM without the script elements, at the same address,
    with the same styles) in a tab of its own.
    """

    def check(page: Any) -> None:
        if page not in SCRIPTLESS:
            run(page)
            return
        html = re.sub(r"<script\b[^>]*>.*?</script>", "", page.content(), flags=re.S)
        address = page.url.split("#")[0]
        context = page.context.browser.new_context(viewport=page.viewport_size, locale="de-DE")
        try:
            copy = context.new_page()
            copy.route(
                address,
                lambda route: route.fulfill(
                    status=200, content_type="text/html; charset=utf-8", body=html
                ),
            )
            copy.goto(address)
            run(copy)
        finally:
            context.close()

    def run(page: Any) -> None:
        page.evaluate(axe_source)
        result = page.evaluate(
            """async () => {
                const r = await axe.run(document, {
                    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}
                });
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))
                }));
            }"""
        )
        assert result == [], f"axe violations on {page.url}:\n" + json.dumps(result, indent=2)

    return check
