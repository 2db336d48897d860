"""The call to action in a phone's browser: within the first two screens of the result at
390 × 844 (its top measured in px), and a tap on it counted once per tap and sent on to the
coach's target, with no cookie."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from quiz.extensions import db
from quiz.models import CtaClick
from quiz.site import settings as site_settings
from tests.e2e.conftest import PHONE
from tests.factories import finished_response
from tests.test_result_page import LONGEST_STEPS_SEED

TARGET = "https://termine.example/erstgespraech"
# A phone's own browser (headless Chrome names itself, and counts as a scanner).
PHONE_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


def _clicks(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(CtaClick.id))) or 0)


def test_the_call_to_action_is_within_two_phone_screens_and_a_tap_counts(
    live_server: Any, browser: Any
) -> None:
    app: Flask = live_server.app
    with app.app_context():
        site_settings.update({"cta.url": TARGET}, "test")
    typical = finished_response(app, seed=21)
    # The longest three next steps of the first 1,500 random profiles: the worst case.
    taker = finished_response(app, seed=LONGEST_STEPS_SEED)
    context = browser.new_context(
        locale="de-DE", viewport=PHONE, is_mobile=True, has_touch=True, user_agent=PHONE_AGENT
    )
    try:
        tab = context.new_page()
        two_screens = 2 * PHONE["height"]
        for shown, worst in ((typical, False), (taker, True)):
            tab.goto(live_server.url + shown.path)
            section = tab.locator(".cta").bounding_box()
            button = tab.locator(".cta a.button").bounding_box()
            bottom = button["y"] + button["height"]
            print(
                f"{'worst' if worst else 'typical'}: call to action's top at {section['y']:.0f} "
                f"px, its button {button['y']:.0f}-{bottom:.0f} px (two screens: {two_screens} px)"
            )
            # Its top, and its button's, within two screens; in the typical case all of it.
            assert section["y"] < button["y"] < two_screens, (section, button)
            assert worst or bottom <= two_screens, (section, button)
        # The target is not reachable from here: the browser's request to /weiter/ goes to the
        # site as it is, and its redirect is shown as a page instead of followed.
        redirects: list[tuple[int, str]] = []

        def stop_at_the_redirect(route: Any) -> None:
            answer = route.fetch(max_redirects=0)
            redirects.append((answer.status, answer.headers.get("location", "")))
            route.fulfill(status=200, body="weitergeleitet", content_type="text/plain")

        tab.route("**/weiter/**", stop_at_the_redirect)
        for taps in (1, 2):
            tab.goto(live_server.url + taker.path)
            with tab.expect_navigation(url="**/weiter/**"):
                tab.locator(".cta a.button").tap()
            assert redirects[-1] == (303, TARGET)
            assert _clicks(app) == taps
        assert context.cookies() == []
    finally:
        context.close()
