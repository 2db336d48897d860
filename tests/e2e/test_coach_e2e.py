"""The coach in a real browser: log in, filter the dashboard, see the charts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.coach_factories import PASSWORD, add_response, create_test_coach
from tests.e2e.conftest import LiveServer


def _seed(live_server: LiveServer) -> None:
    create_test_coach(live_server.app)
    with live_server.app.app_context():
        for n in range(4):
            add_response(
                started=f"2026-03-0{n + 1} 10:00:00",
                finished=f"2026-03-0{n + 1} 10:06:00",
                campaign="herbst" if n % 2 else "fruehjahr",
                scores={"preise": 20 + n},
                first_name=f"Person {n}",
                email=f"p{n}@example.com",
                mail_status="sent",
            )
        add_response(started="2026-03-02 12:00:00", steps=2, campaign="herbst")


def test_coach_logs_in_filters_and_sees_the_charts(
    live_server: LiveServer, page: Any, check_accessibility: Callable[[Any], None]
) -> None:
    _seed(live_server)
    page.goto(f"{live_server.url}/coach/")
    assert "/coach/login" in page.url
    check_accessibility(page)
    page.get_by_label("E-Mail-Adresse").fill("coach@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{live_server.url}/coach/")
    assert page.locator("#kpi-completions").inner_text() == "4"

    page.get_by_label("Kampagne").select_option("herbst")
    page.get_by_role("button", name="Anwenden").click()
    page.wait_for_url("**/coach/?*campaign=herbst*")
    assert page.locator("#kpi-starts").inner_text() == "3"
    assert page.locator("#kpi-completions").inner_text() == "2"
    images = page.locator("figure.chart img")
    assert images.count() == 5
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        assert "campaign=herbst" in image.get_attribute("src")
    check_accessibility(page)

    page.get_by_role("link", name="Leads").click()
    expect(page.get_by_role("link", name="Person 1")).to_be_visible()
    check_accessibility(page)
