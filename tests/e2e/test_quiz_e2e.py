"""A new user takes the whole quiz in Chromium: with JavaScript (one question per screen) and
without (a page of questions at a time), by taps on a 390 × 844 phone and by keyboard on a
1280 × 800 desktop. Along the way: back, resume, validation errors, focus on the error summary,
and at the end the answers posted and stored are the answers chosen.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.domain.content import Content
from quiz.domain.flow import extra_page
from quiz.domain.scoring import sample_answers, score_answers
from quiz.extensions import db
from quiz.models import Answer, Response
from tests.e2e.conftest import PHONE
from tests.factories import with_extra

PAUSE_MS = 350  # static/js/quiz-steps.js: from a tap on an option to the next question
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
STEP_URL = re.compile(r"/quiz/(\d+|zusatz)$")


class Taker:
    """One browser tab taking the quiz, and every answer it posted (the last post of each wins)."""

    def __init__(self, tab: Any, url: str, content: Content, answers: dict[str, str]) -> None:
        self.tab = tab
        self.url = url
        self.content = content
        self.answers = answers
        self.posted: dict[str, str] = {}
        self.posts = 0
        tab.on("request", self._record)

    def _record(self, request: Any) -> None:
        if request.method == "POST" and STEP_URL.search(request.url):
            self.posts += 1
            fields = dict(parse_qsl(request.post_data or ""))
            self.posted |= {key: value for key, value in fields.items() if key in self.answers}

    def option(self, question_id: str, option_id: str | None = None) -> Any:
        """The card (label) of an option: the chosen one unless another is named."""
        value = option_id or self.answers[question_id]
        return self.tab.locator(f'label:has(input[name="{question_id}"][value="{value}"])')

    def other_option(self, question_id: str) -> str:
        """Any option of a question but the chosen one."""
        return next(
            c.id for c in self.content.choices(question_id) if c.id != self.answers[question_id]
        )

    def option_index(self, question_id: str) -> int:
        """The chosen option's place among the question's options (0 for the first)."""
        ids = [choice.id for choice in self.content.choices(question_id)]
        return ids.index(self.answers[question_id])

    def visible_questions(self) -> list[str]:
        """The ids of the questions on screen."""
        return [
            fieldset.get_attribute("id").removeprefix("frage-")
            for fieldset in self.tab.locator("fieldset.question:visible").all()
        ]

    def focused(self) -> str:
        """What has the focus: an element's id, else its class."""
        return str(
            self.tab.evaluate("document.activeElement.id || document.activeElement.className")
        )

    def checked(self, question_id: str) -> str | None:
        """The option checked on the page for a question."""
        checked = self.tab.locator(f'input[name="{question_id}"]:checked')
        return checked.get_attribute("value") if checked.count() else None

    def wait_for_step(self, number: int) -> None:
        self.tab.wait_for_url(f"**/quiz/{number}")
        self.tab.wait_for_load_state()

    def start(self, keyboard: bool = False) -> None:
        """From the landing page into the quiz, by a tap or by Enter on the start button."""
        self.tab.goto(self.url + "/")
        button = self.tab.get_by_role("button", name="Quiz starten")
        if keyboard:
            button.focus()
            self.tab.keyboard.press("Enter")
        else:
            button.tap()

    def send(self, button: str) -> None:
        """Tap a button that sends the page, and wait for the page that comes back."""
        with self.tab.expect_navigation():
            self.tab.get_by_role("button", name=button).tap()


def open_taker(live_server: Any, open_tab: Any, phone: bool, javascript: bool, seed: int) -> Taker:
    """A taker with random answers in a tab of its own, on the landing page's doorstep."""
    content = get_content(live_server.app)
    tab = open_tab(phone=phone, javascript=javascript)
    answers = with_extra(content, sample_answers(content, "random", seed=seed), seed)
    return Taker(tab, live_server.url, content, answers)


def extra_page_by_clicks(taker: Taker, javascript: bool) -> int:
    """The extra page, if the answers get one: with JavaScript one question per screen, counted
    on from the core's questions; without, the whole page at once. How many it asked."""
    tab, content = taker.tab, taker.content
    due = extra_page(content, taker.answers)
    if not due:
        return 0
    tab.wait_for_url("**/quiz/zusatz")
    tab.wait_for_load_state()
    pages, core = len(content.pages), len(content.questions)
    assert f"Schritt {pages + 1} von {pages + 2}" in tab.title()
    assert tab.get_by_role("heading", level=1).inner_text() == "Noch ein paar Fragen"
    if not javascript:
        assert taker.visible_questions() == list(due)
        for question_id in due:
            taker.option(question_id).click()
        with tab.expect_navigation():
            tab.get_by_role("button", name="Weiter").click()
        return len(due)
    for k, question_id in enumerate(due, core + 1):
        assert taker.visible_questions() == [question_id]
        assert tab.locator(".progress-label").inner_text() == f"Frage {k} von {core + len(due)}"
        number = tab.locator(f"#frage-{question_id} .question-number").inner_text()
        assert number == f"{k}."
        if k == core + len(due):
            with tab.expect_navigation():
                taker.option(question_id).click()
                tab.clock.run_for(PAUSE_MS)
        else:
            taker.option(question_id).click()
            tab.clock.run_for(PAUSE_MS)
    return len(due)


def finish(
    taker: Taker, app: Flask, check_accessibility: Any = None, *, javascript: bool = True
) -> None:
    """The extra page if the answers get one, the lead step, then the result: its bottleneck
    and chart, and the answers posted and stored. With `check_accessibility`, axe checks both
    pages."""
    tab, content = taker.tab, taker.content
    extra = extra_page_by_clicks(taker, javascript)
    number = len(content.pages) + 1
    taker.wait_for_step(number)
    total = number + (1 if extra else 0)
    expect(tab.get_by_text(f"Schritt {total} von {total}")).to_be_visible()
    bar = tab.locator("progress.progress-bar").evaluate("bar => [bar.value, bar.max]")
    assert bar == [len(content.questions) + extra] * 2
    if check_accessibility:
        check_accessibility(tab)
    tab.get_by_label("Vorname (optional)").fill("Jana")
    tab.get_by_label("E-Mail-Adresse").fill("jana@example.com")
    tab.locator('label[for="consent_data"]').click()
    assert not tab.locator("#consent_marketing").is_checked()
    tab.get_by_role("button", name="Ergebnis anzeigen").click()
    tab.wait_for_url("**/r/*")
    expected = score_answers(content, taker.answers)
    bottleneck = content.dimension_by_id[expected.bottleneck].name
    assert tab.get_by_role("heading", level=1).inner_text() == f"Ihr größter Engpass: {bottleneck}"
    chart = tab.locator("figure.chart img")
    chart.wait_for()
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0"), "the chart did not load"
    assert tab.locator("table.scores tbody tr").count() == len(content.dimensions)
    if check_accessibility:
        check_accessibility(tab)
    assert taker.posted == taker.answers
    token = tab.url.rsplit("/r/", 1)[1]
    with app.app_context():
        stored = db.session.execute(
            select(Answer.question_id, Answer.option_id)
            .join(Response, Response.id == Answer.response_id)
            .where(Response.result_token == token)
        ).all()
    assert dict(stored) == taker.answers


def test_one_question_per_screen_by_taps_on_a_phone(
    live_server, open_tab, check_accessibility, screenshot
) -> None:
    """With JavaScript: one tap per answer, back within a page and to the page before, an
    interrupted pause, resume, and errors caught in the browser and by the server."""
    app = live_server.app
    taker = open_taker(live_server, open_tab, phone=True, javascript=True, seed=21)
    tab, content = taker.tab, taker.content
    # Its weakest area stands apart after the core questions: no extra page (finish checks).
    assert not extra_page(content, taker.answers)
    # The pause after a tap runs on the test's clock: stopped, and moved on by run_for.
    tab.context.clock.install(time=START)
    tab.clock.pause_at(START + timedelta(minutes=1))
    count = len(content.questions)

    def accessible() -> None:
        """axe runs on timers: let the clock run meanwhile."""
        tab.clock.resume()
        check_accessibility(tab)
        now = tab.evaluate("Date.now()") / 1000
        tab.clock.pause_at(datetime.fromtimestamp(now + 1, tz=UTC))

    def tap_answer(question_id: str) -> None:
        taker.option(question_id).tap()
        tab.clock.run_for(PAUSE_MS)

    def on_screen(question_id: str, k: int, fits: bool = False) -> None:
        """The question alone on screen as question k; with `fits`, the question and both
        buttons in the first screen, nothing scrolled."""
        assert taker.visible_questions() == [question_id]
        if fits:
            assert tab.evaluate("window.scrollY") == 0
            weiter = tab.get_by_role("button", name="Weiter").bounding_box()
            assert weiter["y"] + weiter["height"] <= PHONE["height"], question_id
        assert tab.locator(".progress-label").inner_text() == f"Frage {k} von {count}"
        assert tab.locator("progress.progress-bar").evaluate("bar => [bar.value, bar.max]") == [
            k - 1,
            count,
        ]

    tab.goto(live_server.url + "/?utm_campaign=e2e")
    accessible()
    screenshot(tab, "landing")
    tab.get_by_role("button", name="Quiz starten").tap()
    k = 0
    for number, page in enumerate(content.pages, 1):
        taker.wait_for_step(number)
        questions = [q.id for q in page.questions]
        if number == 4:
            # Resume: the taker closes the tab midway through page 4 and comes back. What was
            # posted is kept; the answer given on this page had not been posted yet.
            on_screen(questions[0], k + 1)
            taker.option(questions[0]).tap()
            tab.goto(live_server.url + "/")
            tab.get_by_role("button", name="Quiz fortsetzen").tap()
            taker.wait_for_step(4)
            assert taker.checked(questions[0]) is None
        if number == 5:
            # The server refuses an option it never offered: the page comes back with the
            # question on screen, the summary focused, the other answers kept.
            for question_id in questions[1:]:
                taker.option(question_id).evaluate("label => label.querySelector('input').click()")
            with tab.expect_navigation():
                tab.locator(f'input[name="{questions[0]}"]').first.evaluate(
                    "input => { input.value = 'kaputt'; input.checked = true; input.form.submit(); }"
                )
            expect(tab.locator(".error-summary")).to_be_focused()
            assert "Frage" in tab.locator(".error-summary").inner_text()
            on_screen(questions[0], k + 1)
            screenshot(tab, "server-error")
            assert [taker.checked(q) for q in questions[1:]] == [
                taker.answers[q] for q in questions[1:]
            ]
        for index, question_id in enumerate(questions):
            k += 1
            on_screen(question_id, k, fits=tab.locator(".error-summary").count() == 0)
            if number == 1 and index == 0:
                accessible()
                screenshot(tab, "first-question")
            if number == 2 and index == 0:
                # "Weiter" before answering: nothing is sent, the summary says what is missing.
                posts = taker.posts
                tab.get_by_role("button", name="Weiter").tap()
                expect(tab.locator(".error-summary")).to_be_focused()
                link = tab.locator(".error-summary a")
                assert link.inner_text() == (
                    f"Frage {content.question_number[question_id]}: Bitte wählen Sie eine Antwort."
                )
                accessible()
                screenshot(tab, "unanswered")
                link.tap()
                assert taker.focused() == f"{question_id}-0"
                assert taker.posts == posts
            if number == 2 and index == 1:
                # A second tap within the pause wins, and moves on once.
                taker.option(question_id, taker.other_option(question_id)).tap()
                tab.clock.run_for(PAUSE_MS // 2)
                on_screen(question_id, k)
            if number == 3 and index == 1:
                # "Zurück" within the pause stops it and steps back within the page.
                taker.option(question_id).tap()
                tab.get_by_role("button", name="Zurück").tap()
                tab.clock.run_for(PAUSE_MS * 2)
                on_screen(questions[0], k - 1)
                assert taker.checked(questions[0]) == taker.answers[questions[0]]
                tab.get_by_role("button", name="Weiter").tap()
                on_screen(question_id, k)
                assert taker.checked(question_id) == taker.answers[question_id]
            tap_answer(question_id)
            if number == 2 and index == 2:
                # Back through the page to the one before: its last question, answer kept;
                # then on again to the first question not yet answered here.
                for back in (2, 1, 0):
                    tab.get_by_role("button", name="Zurück").tap()
                    on_screen(questions[back], k - 2 + back)
                    assert taker.checked(questions[back]) == taker.answers[questions[back]]
                tab.get_by_role("button", name="Zurück").tap()
                taker.wait_for_step(1)
                last = content.pages[0].questions[-1].id
                on_screen(last, len(content.pages[0].questions))
                assert taker.checked(last) == taker.answers[last]
                tab.get_by_role("button", name="Weiter").tap()
                taker.wait_for_step(2)
                on_screen(questions[3], k + 1)
    finish(taker, app, lambda _tab: accessible())
    screenshot(tab, "result")


def test_one_question_per_screen_by_keyboard_on_a_desktop(live_server, open_tab) -> None:
    """With JavaScript at 1280 × 800: number keys and arrow keys choose, Enter moves on."""
    taker = open_taker(live_server, open_tab, phone=False, javascript=True, seed=8)
    tab, content = taker.tab, taker.content
    assert extra_page(content, taker.answers), "close after the core: the extra page comes"
    tab.context.clock.install(time=START)
    tab.clock.pause_at(START + timedelta(minutes=1))
    taker.start(keyboard=True)
    for number, page in enumerate(content.pages, 1):
        taker.wait_for_step(number)
        for index, question in enumerate(page.questions):
            assert taker.visible_questions() == [question.id]
            place = taker.option_index(question.id)
            if index % 2:
                # Arrow keys from the first option (a number key puts the focus there).
                tab.keyboard.press("1")
                for _ in range(place):
                    tab.keyboard.press("ArrowDown")
            else:
                tab.keyboard.press(str(place + 1))
            assert taker.focused() == f"{question.id}-{place}"
            assert taker.checked(question.id) == taker.answers[question.id]
            tab.clock.run_for(PAUSE_MS * 2)  # a key chooses only; it does not move on
            assert taker.visible_questions() == [question.id]
            tab.keyboard.press("Enter")
    finish(taker, live_server.app)


def test_page_per_step_by_taps_without_javascript(
    live_server, open_tab, check_accessibility, screenshot
) -> None:
    """Without JavaScript on a phone: all of a page's questions at once; errors with a focused
    summary (right for an empty first page), back, resume."""
    taker = open_taker(live_server, open_tab, phone=True, javascript=False, seed=5)
    tab, content = taker.tab, taker.content
    taker.start()
    for number, page in enumerate(content.pages, 1):
        taker.wait_for_step(number)
        questions = [q.id for q in page.questions]
        assert taker.visible_questions() == questions
        if number == 1:
            # Nothing answered yet: the summary lists every question and claims nothing saved.
            taker.send("Weiter")
            expect(tab.locator(".error-summary")).to_be_focused()
            summary = tab.locator(".error-summary")
            assert summary.get_by_role("heading").inner_text() == (
                "Bitte beantworten Sie die Fragen auf dieser Seite."
            )
            assert summary.get_by_role("link").count() == len(questions)
            assert "gespeichert" not in summary.inner_text()
            check_accessibility(tab)
            screenshot(tab, "empty-page")
        if number == 2:
            # One left out: the summary links to it, the rest are kept (and saved).
            for question_id in questions[1:]:
                taker.option(question_id).tap()
            taker.send("Weiter")
            expect(tab.locator(".error-summary")).to_be_focused()
            summary = tab.locator(".error-summary")
            assert "Ihre übrigen Antworten sind gespeichert." in summary.inner_text()
            summary.get_by_role("link").tap()
            assert tab.url.endswith(f"#frage-{questions[0]}")
            assert [taker.checked(q) for q in questions[1:]] == [
                taker.answers[q] for q in questions[1:]
            ]
        if number == 4:
            # Resume: closed midway through page 4, back on the landing page.
            tab.goto(live_server.url + "/")
            tab.get_by_role("button", name="Quiz fortsetzen").tap()
            taker.wait_for_step(4)
        for question_id in questions:
            taker.option(question_id).tap()
        if number == 1:
            check_accessibility(tab)
            screenshot(tab, "first-page")
        if number == 3:
            # Back to page 2 and on again: both pages keep their answers.
            tab.get_by_role("button", name="Zurück").tap()
            taker.wait_for_step(2)
            previous = [q.id for q in content.pages[1].questions]
            assert [taker.checked(q) for q in previous] == [taker.answers[q] for q in previous]
            tab.get_by_role("button", name="Weiter").tap()
            taker.wait_for_step(3)
            assert [taker.checked(q) for q in questions] == [taker.answers[q] for q in questions]
        tab.get_by_role("button", name="Weiter").tap()
    # axe: in the JavaScript test (these two have no script)
    finish(taker, live_server.app, javascript=False)


def test_page_per_step_by_keyboard_without_javascript(live_server, open_tab) -> None:
    """Without JavaScript at 1280 × 800: Tab to a question, arrow keys choose, and Enter in the
    last question sends the page on ("Weiter" is the form's first button)."""
    taker = open_taker(live_server, open_tab, phone=False, javascript=False, seed=13)
    tab, content = taker.tab, taker.content
    taker.start(keyboard=True)
    for number, page in enumerate(content.pages, 1):
        taker.wait_for_step(number)
        for question in page.questions:
            for _ in range(5):  # past the skip link and the brand to the first question
                if taker.focused().startswith(f"{question.id}-"):
                    break
                tab.keyboard.press("Tab")
            assert taker.focused() == f"{question.id}-0"
            place = taker.option_index(question.id)
            if place == 0:
                tab.keyboard.press("Space")
            for _ in range(place):
                tab.keyboard.press("ArrowDown")
            assert taker.checked(question.id) == taker.answers[question.id]
        tab.keyboard.press("Enter")
    finish(taker, live_server.app, javascript=False)


def test_error_page_is_german_and_accessible(
    live_server, page, screenshot, check_accessibility
) -> None:
    response = page.goto(live_server.url + "/r/unbekannt")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Seite nicht gefunden")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "404")
