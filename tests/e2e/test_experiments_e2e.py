"""The funnel and an A/B test's readout in a real browser (issue 25): the coach defines and
starts a test of the landing headline, a visitor from a podcast campaign sees one headline, keeps
it through the quiz and finishes; the dashboard's source table and the test's readout show them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from quiz import caches
from quiz.app_state import get_content
from quiz.domain.flow import extra_page
from quiz.domain.scoring import sample_answers
from tests.clock import FakeClock
from tests.coach_factories import PASSWORD, create_test_coach
from tests.e2e.conftest import DESKTOP, LiveServer, _watched_tab

VISITOR_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)
HEADLINES = ("Was bremst Ihr Business gerade?", "Wo verlieren Sie gerade Umsatz?")


@pytest.fixture
def visitor(browser: Any) -> Iterator[Any]:
    """A desktop tab without JavaScript that sends an ordinary browser's User-Agent (headless
    Chromium's own names it as such, and is rightly not counted as a visit)."""
    problems: list[str] = []
    tab = _watched_tab(
        browser,
        problems,
        True,
        viewport=DESKTOP,
        user_agent=VISITOR_AGENT,
        java_script_enabled=False,
    )
    yield tab
    tab.context.close()
    assert problems == [], "the browser reported:\n" + "\n".join(problems)


def _answer_pages(tab: Any, live_server: LiveServer, answers: dict[str, str], start: int) -> None:
    content = get_content(live_server.app)
    for number, page in enumerate(content.pages, 1):
        if number < start:
            continue
        tab.wait_for_url(f"**/quiz/{number}")
        for question in page.questions:
            value = answers[question.id]
            tab.locator(f'label:has(input[name="{question.id}"][value="{value}"])').click()
        tab.get_by_role("button", name="Weiter").click()


def test_the_coach_reads_the_funnel_and_the_test_in_the_browser(
    live_server: LiveServer,
    page: Any,
    visitor: Any,
    check_accessibility: Callable[[Any], None],
    screenshot: Callable[[Any, str], Path],
) -> None:
    url = live_server.url
    create_test_coach(live_server.app)
    clock = FakeClock()
    caches.of(live_server.app).clock = clock
    page.set_viewport_size(DESKTOP)
    page.goto(f"{url}/coach/login")
    page.get_by_label("E-Mail-Adresse").fill("coach@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{url}/coach/")

    # The coach defines the test and starts it.
    page.get_by_role("link", name="Experimente").click()
    page.wait_for_url(f"{url}/coach/experimente/")
    check_accessibility(page)
    page.get_by_label("Name des Experiments").fill("Überschrift Herbst")
    page.get_by_label("Welcher Text wird getestet?").select_option("landing_headline")
    page.get_by_label("Woran wird entschieden?").select_option("finish")
    for index, headline in enumerate(HEADLINES):
        page.locator(f"#e-name-{index}").fill("AB"[index])
        page.locator(f"#e-text-{index}").fill(headline)
    page.get_by_role("button", name="Experiment anlegen").click()
    page.wait_for_url(f"{url}/coach/experimente/*")
    experiment_url = page.url
    page.get_by_role("button", name="Starten").click()
    page.wait_for_url(experiment_url)
    assert page.locator("#experiment-status").inner_text() == "läuft"

    # A visitor from the podcast sees one headline and keeps it while taking the quiz.
    visitor.goto(f"{url}/?utm_source=podcast&utm_medium=audio&utm_campaign=folge-42")
    seen = visitor.get_by_role("heading", level=1).inner_text()
    assert seen in HEADLINES
    visitor.get_by_role("button", name="Quiz starten").click()
    content = get_content(live_server.app)
    # Answers that get no extra page (the extra page has tests of its own).
    answers = sample_answers(content, "random", seed=12)
    assert not extra_page(content, answers)
    visitor.wait_for_url("**/quiz/1")
    for question in content.pages[0].questions:
        value = answers[question.id]
        visitor.locator(f'label:has(input[name="{question.id}"][value="{value}"])').click()
    visitor.get_by_role("button", name="Weiter").click()
    visitor.wait_for_url("**/quiz/2")
    for _ in range(2):  # back on the landing page: the same headline, no second visit
        visitor.goto(f"{url}/")
        assert visitor.get_by_role("heading", level=1).inner_text() == seen
    visitor.get_by_role("button", name="Quiz fortsetzen").click()
    _answer_pages(visitor, live_server, answers, start=2)
    visitor.wait_for_url(f"**/quiz/{len(content.pages) + 1}")
    visitor.get_by_label("E-Mail-Adresse").fill("hoererin@example.com")
    visitor.locator('label[for="consent_data"]').click()
    visitor.get_by_role("button", name="Ergebnis anzeigen").click()
    visitor.wait_for_url("**/r/*")

    # The dashboard (its figures kept a minute per filter): the podcast's row, one visit that
    # started and finished.
    clock.advance(caches.CHART_SECONDS + 1)
    page.goto(f"{url}/coach/")
    row = page.locator("#source-table tbody tr", has_text="podcast")
    assert row.locator("td").all_inner_texts() == [
        "podcast",
        "audio",
        "folge-42",
        "(direkt)",
        "1",
        "100,0 %",
        "100,0 %",
        "0,0 %",
        "0,0 %",
    ]
    check_accessibility(page)
    page.get_by_role("link", name="Abschlussquote").click()
    page.wait_for_url("**by=finish_rate**")
    assert page.locator("#source-table th[aria-sort]").inner_text().startswith("Abschlussquote")
    screenshot(page, "dashboard-sources")

    # The test's readout: the variant seen has the visit, the start and the finish.
    page.goto(experiment_url)
    seen_row = page.locator("#experiment-counts tbody tr", has_text=seen)
    cells = seen_row.locator("td").all_inner_texts()
    assert cells[1:4] == ["1", "1 (100,0\xa0%)", "1 (100,0\xa0%)"]
    assert page.locator("#recommendation").inner_text().startswith("Noch keine belastbare Aussage.")
    expect(page.get_by_text("Jede Variante braucht mindestens 100 Besuche.")).to_be_visible()
    expect(page.get_by_text("Gleichverteilung")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "experiment-readout")
