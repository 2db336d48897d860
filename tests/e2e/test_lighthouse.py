"""Lighthouse (npm lighthouse, pinned in package.json) on a phone: accessibility, best practices
and SEO score 100 on the landing page, a quiz page, a result page, the Impressum and the privacy
notice (the result page's SEO but for its deliberate `noindex`); no console errors anywhere.

Lighthouse starts Debian's Chromium headless shell itself (CHROME_PATH), once for all pages
(lighthouse_pages.mjs), against the live test server; PUBLIC_URL is the server's own address, as
in production, so the canonical link is checked for real.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers
from quiz.site import settings as site_settings
from quiz.web.public import DRAFT_COOKIE
from tests.e2e.conftest import CHROMIUM, ROOT, LiveServer
from tests.quizflow import answer_page, complete_quiz, start

LIGHTHOUSE = ROOT / "node_modules" / "lighthouse"
PAGES_SCRIPT = Path(__file__).with_name("lighthouse_pages.mjs")
CATEGORIES = ("accessibility", "best-practices", "seo")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
# Audits left out, each for a reason outside the app (empty when every audit can run here).
SKIPPED_AUDITS: tuple[str, ...] = ()
# Pages that tell search engines `noindex` on purpose (a taker's result is theirs alone): SEO's
# "is-crawlable" audit counts that against them by design. Every other audit must pass, and that
# one must fail for exactly this reason.
NOINDEX_PAGES = ("result",)
NOINDEX_AUDIT = "is-crawlable"


def lighthouse(
    pages: dict[str, tuple[str, str | None]],
    out: Path,
    without_javascript: tuple[str, ...] = (),
    screenshots: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    """Lighthouse with mobile settings over `pages` ({name: (url, cookie)}), one browser for all
    (tests/e2e/lighthouse_pages.mjs), the pages named in `without_javascript` with JavaScript
    switched off, a full-page screenshot of those named in `screenshots` only; the JSON report
    of each page by name."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"Lighthouse needs Debian's chromium-headless-shell at {CHROMIUM} "
            "(make test installs it when run as root)"
        )
    if not LIGHTHOUSE.exists():
        pytest.fail("node_modules/lighthouse is missing: run `npm ci` (make test does)")
    job = {
        "chromeFlags": list(CHROME_FLAGS),
        "categories": list(CATEGORIES),
        "skipAudits": list(SKIPPED_AUDITS),
        "pages": [
            {
                "url": url,
                "cookie": cookie,
                "javaScript": name not in without_javascript,
                "fullPageScreenshot": name in screenshots,
                "out": str(out / f"{name}.json"),
            }
            for name, (url, cookie) in pages.items()
        ],
    }
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "CHROME_PATH": str(CHROMIUM)}
    run = subprocess.run(
        ["node", str(PAGES_SCRIPT), str(out / "job.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return {name: json.loads((out / f"{name}.json").read_text(encoding="utf-8")) for name in pages}


def failures(report: dict[str, Any], expected: tuple[str, ...] = ()) -> dict[str, Any]:
    """Category scores below 100 with the audits that cost the points (but the `expected` ones)."""
    found: dict[str, Any] = {}
    for name in CATEGORIES:
        category = report["categories"][name]
        if category["score"] == 1:
            continue
        failed = {}
        for ref in category["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["id"] in expected:
                continue
            if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < 1:
                failed[ref["id"]] = audit.get("displayValue") or audit["title"]
        if failed:
            found[name] = {"score": category["score"], "audits": failed}
    return found


def _page_height(report: dict[str, Any]) -> int:
    """The height of the page Lighthouse audited, from its full-page screenshot."""
    return int(report["fullPageScreenshot"]["screenshot"]["height"])


def _cookies(client: FlaskClient) -> str:
    """The Cookie header of this client's browser: its draft and its session."""
    cookies = [client.get_cookie(name) for name in (DRAFT_COOKIE, "session")]
    return "; ".join(f"{c.key}={c.value}" for c in cookies if c is not None)


def test_landing_quiz_result_and_legal_pages_score_100(
    live_server: LiveServer, tmp_path: Path
) -> None:
    app = live_server.app
    app.config["PUBLIC_URL"] = live_server.url
    with app.app_context():
        # The legal pages as a coach publishes them: every Impressum field, a hosting provider.
        site_settings.update(
            {
                "contact.name": "Dr. Erika Muster",
                "contact.address": "Musterweg 1\n12345 Musterstadt",
                "contact.email": "kontakt@praxis-muster.de",
                "contact.phone": "+49 30 1234567",
                "legal.impressum_extra": "USt-IdNr.: DE123456789",
                "privacy.hosting": "Hoster GmbH, Serverweg 2, 10115 Berlin",
            },
            "test",
        )
    content = get_content(app)
    # A taker midway (page 2 answered), as the cookie of the browser Lighthouse drives ...
    midway = app.test_client()
    start(midway)
    answers = sample_answers(content, "random", seed=5)
    assert answer_page(midway, app, 1, answers).status_code == 302
    # ... and one who has finished, whose result page needs no cookie.
    finished = app.test_client()
    result = complete_quiz(finished, app, answers)
    # The quiz page twice: one question per screen (JavaScript), and the whole page without.
    pages = {
        "landing": (live_server.url + "/", None),
        "quiz": (live_server.url + "/quiz/2", _cookies(midway)),
        "quiz-without-javascript": (live_server.url + "/quiz/2", _cookies(midway)),
        "result": (live_server.url + result.headers["Location"], None),
        "impressum": (live_server.url + "/impressum", None),
        "datenschutz": (live_server.url + "/datenschutz", None),
    }
    quiz_pages = ("quiz", "quiz-without-javascript")
    reports = lighthouse(
        pages, tmp_path, without_javascript=("quiz-without-javascript",), screenshots=quiz_pages
    )
    problems = {}
    for name, report in reports.items():
        url = pages[name][0]
        assert report["finalDisplayedUrl"] == url, f"{name} was redirected"
        assert report.get("runtimeError") is None, report["runtimeError"]
        expected = (NOINDEX_AUDIT,) if name in NOINDEX_PAGES else ()
        if failures(report, expected):
            problems[name] = failures(report, expected)
        crawlable = report["audits"][NOINDEX_AUDIT]
        if expected:
            assert crawlable["score"] == 0 and "noindex" in json.dumps(crawlable["details"]), name
        else:
            assert crawlable["score"] == 1, name
    assert problems == {}, json.dumps(problems, indent=2, ensure_ascii=False)
    # Each quiz report saw the page its mode shows: one question on about a screen, or all of
    # them on several.
    heights = {name: _page_height(reports[name]) for name in quiz_pages}
    assert heights["quiz-without-javascript"] > 2 * heights["quiz"], heights


def test_no_console_errors_on_public_pages(live_server: LiveServer, page: Any) -> None:
    app = live_server.app
    messages: list[str] = []
    page.on(
        "console",
        lambda message: (
            messages.append(f"{page.url}: {message.text}") if message.type == "error" else None
        ),
    )
    page.on(
        "requestfailed",
        # Leaving a page cancels its favicon request when that is still under way: not an error.
        lambda request: (
            messages.append(f"failed: {request.url} {request.failure}")
            if request.failure != "net::ERR_ABORTED"
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            messages.append(f"{response.status}: {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Quiz starten").click()
    page.wait_for_url("**/quiz/1")
    page.goto(live_server.url + "/datenschutz")
    # Opened as a document, an image gets Chromium's viewer (inline styles our CSP blocks), so the
    # browser fetches /favicon.ico the way it asks for it on its own: as a plain request.
    assert page.request.get(live_server.url + "/favicon.ico").status == 200
    client = app.test_client()
    result = complete_quiz(client, app)
    page.goto(live_server.url + result.headers["Location"])
    page.wait_for_load_state("networkidle")
    assert messages == []
