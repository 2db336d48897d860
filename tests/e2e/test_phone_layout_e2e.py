"""The quiz's layout on phones from 320 to 430 px wide, with and without JavaScript: buttons on
one row, every tap target at least 44 × 44 px, options as full-width cards, the start button in
the landing page's first screen, and the result's diagnosis and next steps within two screens.

The takers are made through the test client (their draft cookie handed to the browser), so each
check costs a page load, not a walk through the quiz.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers
from quiz.web.public import DRAFT_COOKIE
from tests.e2e.conftest import PHONE
from tests.quizflow import answer_all_pages, answer_page, complete_quiz, start

WIDTHS = (320, 360, 390, 430)
TARGET_PX = 44
# What a thumb taps on a quiz page: buttons, option cards (their radio is inside), the consent
# checkboxes' labels, text fields, the error summary's links, the brand and the footer's links.
TARGETS = (
    "button, label.option, label.checkbox, input[type=text], input[type=email], "
    ".error-list a, a.brand, .site-footer a"
)


def draft_cookie(client: FlaskClient, url: str) -> dict[str, str]:
    cookie = client.get_cookie(DRAFT_COOKIE)
    assert cookie is not None
    return {"name": DRAFT_COOKIE, "value": cookie.value, "url": url}


MEASURE = """([selector, size, buttons]) => {
    const box = el => el.getBoundingClientRect();
    const named = [...document.querySelectorAll("button")];
    const [back, forward] = buttons.map(name => box(named.find(b => b.textContent.trim() === name)));
    return {
        back: [back.left, back.right, back.top],
        forward: [forward.left, forward.right, forward.top],
        scrollWidth: document.documentElement.scrollWidth,
        small: [...document.querySelectorAll(selector)]
            .map(el => [el, box(el)])
            .filter(([el, r]) => r.width > 0 && r.right > 0 && r.left < innerWidth)
            .filter(([el, r]) => r.width < size || r.height < size)
            .map(([el, r]) => `${el.outerHTML.slice(0, 80)}: ${r.width} × ${r.height}`),
        narrowCards: [...document.querySelectorAll("label.option")]
            .filter(card => card.offsetParent !== null)
            .filter(card => box(card).width < box(card.closest("fieldset")).width - 40)
            .map(card => card.htmlFor),
    };
}"""


def assert_phone_layout(tab: Any, buttons: tuple[str, str]) -> None:
    """At every phone width: the two buttons side by side on screen, no tap target under
    44 × 44 px, no sideways scrolling, options as wide as their question."""
    for width in WIDTHS:
        tab.set_viewport_size({"width": width, "height": PHONE["height"]})
        found = tab.evaluate(MEASURE, [TARGETS, TARGET_PX, list(buttons)])
        (back_left, back_right, back_top) = found["back"]
        (forward_left, forward_right, forward_top) = found["forward"]
        assert abs(back_top - forward_top) < 1, (width, found)
        assert back_left >= 0 and back_right <= forward_left and forward_right <= width, found
        assert found["scrollWidth"] <= width, (width, found)
        assert found["small"] == [], (width, found["small"])
        assert found["narrowCards"] == [], (width, found["narrowCards"])


def test_quiz_pages_fit_phones_with_and_without_javascript(live_server: Any, open_tab: Any) -> None:
    app: Flask = live_server.app
    content = get_content(app)
    answers = sample_answers(content, "random", seed=3)
    on_page_two = app.test_client()
    start(on_page_two)
    assert answer_page(on_page_two, app, 1, answers).status_code == 302
    on_lead = app.test_client()
    start(on_lead)
    answer_all_pages(on_lead, app, answers)
    for javascript in (True, False):
        tab = open_tab(phone=True, javascript=javascript)
        tab.context.add_cookies([draft_cookie(on_page_two, live_server.url)])
        tab.goto(live_server.url + "/quiz/2")
        visible = tab.locator("fieldset.question:visible").count()
        assert visible == (1 if javascript else len(content.pages[1].questions))
        assert_phone_layout(tab, ("Zurück", "Weiter"))
        # The error summary's links are tap targets too.
        tab.get_by_role("button", name="Weiter").tap()
        tab.locator(".error-summary").wait_for()
        assert_phone_layout(tab, ("Zurück", "Weiter"))
    tab = open_tab(phone=True, javascript=False)
    tab.context.add_cookies([draft_cookie(on_lead, live_server.url)])
    tab.goto(live_server.url + f"/quiz/{len(content.pages) + 1}")
    assert_phone_layout(tab, ("Zurück", "Ergebnis anzeigen"))


def test_landing_and_result_first_screens_on_phones(live_server: Any, open_tab: Any) -> None:
    """The start button within the first screen of small phones too; the result page starts
    with the diagnosis, then the three next steps, both within two screens of 390 × 844."""
    app: Flask = live_server.app
    tab = open_tab(phone=True, javascript=True)
    tab.goto(live_server.url + "/")
    for size in ({"width": 320, "height": 568}, {"width": 360, "height": 640}, PHONE):
        tab.set_viewport_size(size)
        button = tab.get_by_role("button", name="Quiz starten").bounding_box()
        assert button["y"] + button["height"] <= size["height"], (size, button)
        assert button["height"] >= TARGET_PX
    result = complete_quiz(
        app.test_client(), app, sample_answers(get_content(app), "random", seed=21)
    )
    tab.set_viewport_size(PHONE)
    tab.goto(live_server.url + result.headers["Location"])
    diagnosis = tab.locator(".diagnosis").bounding_box()
    steps = tab.locator(".next-steps").bounding_box()
    assert diagnosis["y"] < steps["y"]
    assert diagnosis["y"] < PHONE["height"] / 4
    assert steps["y"] + steps["height"] <= 2 * PHONE["height"], steps
