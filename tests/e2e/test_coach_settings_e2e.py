"""The coach's settings in a real browser: add an endpoint, copy its secret, send a test that a
real receiver verifies, see it in the delivery log, change the password; axe on every state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from quiz.webhooks import sender
from tests.coach_factories import PASSWORD, create_test_coach
from tests.e2e.conftest import LiveServer
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    server = Receiver()
    yield server
    server.stop()


def test_coach_manages_a_webhook_and_changes_the_password(
    live_server: LiveServer,
    page: Any,
    receiver: Receiver,
    check_accessibility: Callable[[Any], None],
) -> None:
    create_test_coach(live_server.app)
    page.goto(f"{live_server.url}/coach/login")
    page.get_by_label("E-Mail-Adresse").fill("coach@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{live_server.url}/coach/")

    page.get_by_role("link", name="Einstellungen").click()
    page.wait_for_url(f"{live_server.url}/coach/einstellungen")
    expect(page.get_by_role("heading", name="Einstellungen")).to_be_visible()
    check_accessibility(page)

    # A refused address: the error is announced and tied to the field.
    page.get_by_label("Adresse (URL) des Empfängers").fill("ftp://example.com/x")
    page.get_by_role("button", name="Endpunkt speichern").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    assert page.get_by_label("Adresse (URL) des Empfängers").get_attribute("aria-invalid") == "true"
    check_accessibility(page)

    page.get_by_label("Adresse (URL) des Empfängers").fill(receiver.url())
    page.get_by_label("Beschreibung (optional)").fill("Mein CRM")
    page.get_by_role("checkbox", name="Daten gelöscht").uncheck()
    page.get_by_role("button", name="Endpunkt speichern").click()
    secret = page.get_by_role("textbox", name="Geheimnis").input_value()
    assert secret.startswith("whsec_")
    check_accessibility(page)
    receiver.secret = secret

    page.get_by_role("link", name="Zurück zu den Einstellungen").click()
    assert secret not in page.content()
    expect(page.get_by_text(receiver.url()).first).to_be_visible()
    page.get_by_role("button", name="Test senden").click()
    assert page.get_by_role("status").inner_text().startswith("Ein Test-Ereignis")
    assert sender.deliver_due(live_server.app).delivered == 1
    [request] = receiver.requests
    assert request.verified and request.payload["type"] == "webhook.test"
    page.reload()
    log = page.locator("#zustellungen")
    assert "zugestellt" in log.inner_text()
    assert request.headers["webhook-id"] in log.inner_text()
    check_accessibility(page)

    page.get_by_role("link", name="Bearbeiten").click()
    assert page.get_by_role("checkbox", name="Daten gelöscht").is_checked() is False
    check_accessibility(page)
    page.get_by_role("link", name="Zurück zu den Einstellungen").click()

    page.get_by_label("Aktuelles Passwort").fill(PASSWORD)
    page.get_by_label("Neues Passwort", exact=True).fill("ein-ganz-neues-Passwort-77")
    page.get_by_label("Neues Passwort wiederholen").fill("ein-ganz-neues-Passwort-77")
    page.get_by_role("button", name="Passwort ändern").click()
    assert "Ihr Passwort wurde geändert" in page.get_by_role("status").inner_text()
    check_accessibility(page)
    page.goto(f"{live_server.url}/coach/")
    assert page.url == f"{live_server.url}/coach/"  # still logged in
