"""The questionnaire-quality page in a real browser, phone-sized and on a desktop: reached from
the coach's navigation, filtered, its wide tables scroll inside their region; axe on each state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from quiz.app_state import get_content
from tests.coach_factories import PASSWORD, add_response, create_test_coach
from tests.e2e.conftest import LiveServer
from tests.quality_data import finish, generated


def _seed(live_server: LiveServer) -> None:
    create_test_coach(live_server.app)
    with live_server.app.app_context():
        content = get_content()
        for chosen in generated(content, 21, 32):
            finish(content, chosen)
        for chosen in generated(content, 22, 5):
            finish(content, chosen, demo=True)
        add_response(started="2026-03-02 12:00:00", steps=2, version=content.version)


def _log_in(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/coach/login")
    page.get_by_label("E-Mail-Adresse").fill("coach@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{live_server.url}/coach/")


def test_coach_reads_the_questionnaire_quality_on_a_phone(
    live_server: LiveServer,
    page: Any,
    check_accessibility: Callable[[Any], None],
    screenshot: Callable[[Any, str], Path],
) -> None:
    _seed(live_server)
    _log_in(live_server, page)
    page.get_by_role("link", name="Fragebogen-Qualität").click()
    page.wait_for_url(f"{live_server.url}/coach/qualitaet")
    expect(page.get_by_role("heading", name="Fragebogen-Qualität", level=1)).to_be_visible()
    assert page.locator("#kpi-finished").inner_text() == "37"
    first = get_content(live_server.app).dimensions[0]
    assert page.locator(f"#d-{first.id} [data-stat=n]").inner_text() == "37"
    # A wide table scrolls inside its own region, which a keyboard can reach; the page does not.
    region = page.get_by_role("region", name=f"Fragen im Bereich {first.name} (seitlich scrollbar)")
    assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    assert region.get_attribute("tabindex") == "0"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_text(f"Antworten je Option im Bereich {first.name}").click()
    check_accessibility(page)
    screenshot(page, "quality-phone")

    page.get_by_label("Demodaten").select_option("demo")
    page.get_by_role("button", name="Anwenden").click()
    page.wait_for_url("**/coach/qualitaet?*demo=demo*")
    assert page.locator("#kpi-finished").inner_text() == "5"
    expect(page.locator(f"#few-{first.id}")).to_be_visible()
    check_accessibility(page)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("Demodaten").select_option("")
    page.get_by_label("Antwortqualität").select_option("clean")
    page.get_by_role("button", name="Anwenden").click()
    page.wait_for_url("**/coach/qualitaet?*quality=clean*")
    assert page.locator(f"#d-{first.id} [data-stat=alpha]").inner_text() != "–"
    check_accessibility(page)
    screenshot(page, "quality-desktop")
