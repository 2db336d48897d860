"""A new user on a phone takes the quiz in Chromium: back once, reload once, result with chart."""

from __future__ import annotations

from typing import Any

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers, score_answers


def choose(page: Any, question_id: str, option_id: str) -> None:
    """Tap the label of an answer, as a person would."""
    page.locator(f'label:has(input[name="{question_id}"][value="{option_id}"])').click()


def assert_answers_kept(page: Any, questions: Any, answers: dict[str, str]) -> None:
    """Every question on the page still shows the answer chosen before."""
    for question in questions:
        assert page.locator(
            f'input[name="{question.id}"][value="{answers[question.id]}"]'
        ).is_checked(), question.id


def test_new_user_completes_the_quiz_on_a_phone(
    live_server, page, screenshot, check_accessibility
) -> None:
    content = get_content(live_server.app)
    answers = sample_answers(content, "random", seed=21)
    expected = score_answers(content, answers)
    total = len(content.pages) + 1

    page.goto(live_server.url + "/?utm_campaign=e2e")
    check_accessibility(page)
    screenshot(page, "landing")
    page.get_by_role("button", name="Quiz starten").click()

    number = 1
    went_back = reloaded = False
    while number <= len(content.pages):
        page.wait_for_url(f"**/quiz/{number}")
        assert page.get_by_text(f"Schritt {number} von {total}").is_visible()
        questions = content.pages[number - 1].questions
        for question in questions:
            choose(page, question.id, answers[question.id])
        if number == 2 and not reloaded:
            # Submit with one answer missing first: the page says what is missing, keeps the rest.
            page.reload()
            reloaded = True
            assert page.locator(f'input[name="{questions[0].id}"]:checked').count() == 0
            for question in questions[1:]:
                choose(page, question.id, answers[question.id])
            page.get_by_role("button", name="Weiter").click()
            page.wait_for_selector(".field-error")
            check_accessibility(page)
            screenshot(page, f"step-{number}-error")
            assert_answers_kept(page, questions[1:], answers)
            choose(page, questions[0].id, answers[questions[0].id])
        check_accessibility(page)
        screenshot(page, f"step-{number}")
        if number == 3 and not went_back:
            page.get_by_role("button", name="Zurück").click()
            went_back = True
            number -= 1
            page.wait_for_url(f"**/quiz/{number}")
            assert_answers_kept(page, content.pages[number - 1].questions, answers)
            page.get_by_role("button", name="Weiter").click()
            number += 1
            page.wait_for_url(f"**/quiz/{number}")
            # Page 3's answers were kept when going back.
            assert_answers_kept(page, content.pages[number - 1].questions, answers)
        page.get_by_role("button", name="Weiter").click()
        number += 1

    page.wait_for_url(f"**/quiz/{total}")
    assert page.get_by_text(f"Schritt {total} von {total}").is_visible()
    check_accessibility(page)
    screenshot(page, "lead")
    page.get_by_label("Vorname (optional)").fill("Jana")
    page.get_by_label("E-Mail-Adresse").fill("jana@example.com")
    page.locator('label[for="consent_data"]').click()
    assert not page.locator("#consent_marketing").is_checked()
    page.get_by_role("button", name="Ergebnis anzeigen").click()

    page.wait_for_url("**/r/*")
    bottleneck = content.dimension_by_id[expected.bottleneck].name
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == f"Ihr größter Engpass: {bottleneck}"
    chart = page.locator("figure.chart img")
    chart.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", chart.element_handle()), (
        "the chart did not load"
    )
    assert bottleneck in (chart.get_attribute("alt") or "")
    rows = page.locator("table.scores tbody tr")
    assert rows.count() == len(content.dimensions)
    check_accessibility(page)
    screenshot(page, "result")


def test_error_page_is_german_and_accessible(
    live_server, page, screenshot, check_accessibility
) -> None:
    response = page.goto(live_server.url + "/r/unbekannt")
    assert response.status == 404
    assert page.get_by_role("heading", name="Seite nicht gefunden").is_visible()
    check_accessibility(page)
    screenshot(page, "404")
