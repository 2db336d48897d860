"""The embed snippet of the settings page (issue 22, item 6), pasted into a page of the coach's own
website on another origin of the same site: the quiz runs in the frame (its SameSite=Lax cookies
go along) and the frame takes the height of each page it shows."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from quiz.site import settings as site_settings
from tests.coach_factories import create_test_coach, login
from tests.e2e.conftest import LiveServer


class CoachSite:
    """The coach's website: one page, holding whatever is pasted into it."""

    def __init__(self) -> None:
        self.body = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def coach_site() -> Iterator[CoachSite]:
    site = CoachSite()
    yield site
    site.close()


def _frame_fits(page: Any) -> tuple[int, int]:
    """(the frame's height on the coach's page, the height of the page inside it)."""
    outer = page.evaluate("document.getElementById('engpass-quiz').getBoundingClientRect().height")
    inner = page.frames[1].evaluate(
        "Math.ceil(document.documentElement.getBoundingClientRect().height)"
    )
    return round(outer), int(inner)


def test_the_pasted_snippet_runs_the_quiz_in_a_frame_that_fits_each_page(
    live_server: LiveServer, coach_site: CoachSite, page: Any
) -> None:
    app = live_server.app
    app.config["PUBLIC_URL"] = live_server.url
    with app.app_context():
        site_settings.update({"embed.frame_ancestors": f"'self' {coach_site.url}"}, "test")
    create_test_coach(app)
    coach = app.test_client()
    login(coach)
    settings_page = coach.get("/coach/einstellungen").get_data(as_text=True)
    assert f"<code>{coach_site.url}</code>" in settings_page  # "Zurzeit erlaubt"
    assert "SameSite=Lax" in settings_page
    snippet = re.search(r'<textarea id="embed-snippet"[^>]*>(.*?)</textarea>', settings_page, re.S)
    assert snippet
    coach_site.body = (
        "<!doctype html><html lang=de><head><meta charset=utf-8><title>Praxis</title></head>"
        "<body><h1>Willkommen</h1>" + html.unescape(snippet.group(1)) + "<p>Ende</p></body></html>"
    ).encode()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(coach_site.url + "/")
    page.wait_for_function("document.getElementById('engpass-quiz').style.height !== '900px'")
    landing = _fits_soon(page)
    # A step inside the frame: the draft cookie goes along (same site), the frame follows it.
    frame = page.frames[1]
    frame.get_by_role("button", name="Quiz starten").click()
    frame.wait_for_url("**/quiz/1")
    frame.wait_for_load_state("load")
    step = _fits_soon(page)
    assert frame.locator("form.quiz-form").count() == 1
    assert step != landing, (landing, step)


def _fits_soon(page: Any) -> int:
    """Wait (at most 5 s) until the frame is as tall as the page inside it; that height."""
    for _ in range(50):
        outer, inner = _frame_fits(page)
        if abs(outer - inner) <= 1:
            return inner
        page.wait_for_timeout(100)
    raise AssertionError(f"the frame is {outer} px tall, its page {inner} px")
