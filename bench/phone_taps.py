"""How much thumb work the quiz costs on a phone: taps and scrolling per answer, with and without JS.

Run: `.venv/bin/python bench/phone_taps.py` (or `make bench-phone`). A taps-only taker at
390 × 844 (Chromium with touch, as a phone) takes every question page of the quiz twice: once
with JavaScript (one question per screen) and once without (the page-per-step flow everyone
without JavaScript gets, which is all there was before issue 26). Prints, per mode: taps per
answer, pixels scrolled per answer and per page, how many answers needed any scrolling, and the
tallest quiz page, then whether JavaScript meets the goal (one tap per answer, no scrolling to
reach an answer or the next question).

Before issue 26 every taker got the page-per-step flow, with no JavaScript at all; measured the
same way on 5363e81: 34 taps (1.21 per answer), 9,145 px scrolled (326.6 px per answer,
1,222–1,750 px per page), 22 of 28 answers needing a scroll, pages 2,164–2,693 px tall.

The thumb, as measured here: before a question is answered, the taker scrolls just far enough to
see the whole question (its text and every option; when it is taller than the screen, from its
text down to the chosen option), then taps the chosen option; a "Weiter" button is scrolled to
and tapped the same way. Scrolling the page itself (not the taker's thumb) is not counted. Taps
are real touch events (Playwright's touchscreen) at the middle of the target.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from quiz import create_app  # noqa: E402
from quiz.domain.content import load_content  # noqa: E402
from quiz.domain.scoring import sample_answers  # noqa: E402

CONTENT = load_content(ROOT / "content" / "questions.yaml")
CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
# How long a JS page may take to move on by itself after its last answer.
AUTO_SUBMIT_MS = 3_000
PAGE_HEIGHT = "document.documentElement.scrollHeight"


@dataclass
class Tally:
    """One mode's run: what the thumb did."""

    mode: str
    answers: int = 0
    taps: int = 0
    scrolled: int = 0
    answers_scrolled: int = 0
    per_page: list[int] = field(default_factory=list)
    screen_heights: list[int] = field(default_factory=list)  # the page's, at each answer


def serve(folder: Path) -> tuple[Any, str]:
    """The app on a fresh, migrated SQLite database, served on a free local port."""
    database = folder / "bench.sqlite3"
    app = create_app(
        {
            "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "RATELIMIT_ENABLED": False,
            "MAIL_DIR": str(folder / "mail"),
            "QUIZ_DELETION_LOG": str(folder / "deletion-log.jsonl"),
            "PUBLIC_URL": "http://127.0.0.1",
        }
    )
    logging.disable(logging.INFO)  # the migrations' and each request's log lines
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def thumb_scroll(page: Any, locator: Any, whole: Any | None = None) -> int:
    """Scroll as a thumb would until `locator` (and, if it fits, `whole`) is on screen; pixels."""
    return int(
        page.evaluate(
            """([target, whole]) => {
                const view = window.innerHeight;
                const t = target.getBoundingClientRect();
                let top = t.top, bottom = t.bottom;
                if (whole) {
                    const w = whole.getBoundingClientRect();
                    // The whole question when it fits, else from its text down to the target.
                    top = w.top;
                    bottom = w.height <= view ? w.bottom : t.bottom;
                }
                let delta = 0;
                if (bottom > view) delta = bottom - view;
                if (top - delta < 0) delta = top;
                const before = window.scrollY;
                window.scrollBy({top: delta, behavior: "instant"});
                return Math.abs(window.scrollY - before);
            }""",
            [locator.element_handle(), whole.element_handle() if whole is not None else None],
        )
    )


def tap(page: Any, locator: Any) -> None:
    """A touch at the middle of what is on screen."""
    box = locator.bounding_box()
    assert box is not None, "tap target not rendered"
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def take_quiz(browser: Any, url: str, javascript: bool, answers: dict[str, str]) -> Tally:
    """A taps-only taker through every question page; the tally of taps and scrolling."""
    tally = Tally("with JS" if javascript else "without JS")
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="de-DE",
        java_script_enabled=javascript,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(url + "/")
    page.get_by_role("button", name="Quiz starten").click()
    for number, quiz_page in enumerate(CONTENT.pages, 1):
        page.wait_for_url(f"**/quiz/{number}")
        page.wait_for_load_state()
        scrolled_here = 0
        for question in quiz_page.questions:
            fieldset = page.locator(f"#frage-{question.id}")
            fieldset.wait_for(state="visible")
            tally.screen_heights.append(int(page.evaluate(PAGE_HEIGHT)))
            option = page.locator(
                f'label:has(input[name="{question.id}"][value="{answers[question.id]}"])'
            )
            pixels = thumb_scroll(page, option, fieldset)
            tap(page, option)
            tally.taps += 1
            tally.answers += 1
            tally.answers_scrolled += pixels > 0
            scrolled_here += pixels
        if javascript:
            # The page should move on by itself after its last answer; else "Weiter" is tapped.
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_url(f"**/quiz/{number + 1}", timeout=AUTO_SUBMIT_MS)
        if page.url.endswith(f"/quiz/{number}"):
            button = page.get_by_role("button", name="Weiter")
            scrolled_here += thumb_scroll(page, button)
            tap(page, button)
            tally.taps += 1
        tally.per_page.append(scrolled_here)
        tally.scrolled += scrolled_here
    page.wait_for_url(f"**/quiz/{len(CONTENT.pages) + 1}")
    context.close()
    return tally


def report(tallies: list[Tally]) -> None:
    """Print the figures, one row per mode."""
    print(
        f"A taps-only taker at {PHONE['width']} × {PHONE['height']}: "
        f"{len(CONTENT.questions)} answers on {len(CONTENT.pages)} question pages"
    )
    header = (
        f"{'mode':<12}{'taps':>6}{'taps/answer':>13}{'scrolled px':>13}{'px/answer':>11}"
        f"{'px/page (min–max)':>20}{'answers scrolled':>18}{'page height px':>17}"
    )
    print(header)
    for t in tallies:
        print(
            f"{t.mode:<12}{t.taps:>6}{t.taps / t.answers:>13.2f}{t.scrolled:>13,}"
            f"{t.scrolled / t.answers:>11.1f}"
            f"{f'{min(t.per_page):,}–{max(t.per_page):,}':>20}"
            f"{f'{t.answers_scrolled} of {t.answers}':>18}"
            f"{f'{min(t.screen_heights):,}–{max(t.screen_heights):,}':>17}"
        )
    js = next((t for t in tallies if t.mode == "with JS"), None)
    if js is not None:
        met = js.taps == js.answers and js.scrolled == 0
        print(
            "goal with JS (one tap per answer, no scrolling): "
            + ("met" if met else f"NOT met ({js.taps} taps, {js.scrolled} px)")
        )


def main() -> None:
    """Take the quiz with and without JavaScript, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=26, help="seed of the random answers")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("this bench needs Debian's chromium at /usr/bin/chromium (make browser-deps)")
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS

    answers = sample_answers(CONTENT, "random", seed=args.seed)
    folder = Path(tempfile.mkdtemp(prefix="quiz-phone-"))
    server, url = serve(folder)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            tallies = [take_quiz(browser, url, js, answers) for js in (True, False)]
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    report(tallies)


if __name__ == "__main__":
    main()
