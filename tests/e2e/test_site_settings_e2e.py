"""The site settings in a real browser: the coach sets brand, logo, colour, contact and call to
action on the settings page, and another worker process (a second server on the same database)
shows them at once, without a restart; a bad value is refused with nothing changed; axe throughout."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.coach_factories import PASSWORD, create_test_coach
from tests.conftest import TEST_SECRET
from tests.e2e.conftest import ROOT, LiveServer


@pytest.fixture
def second_worker(live_server: LiveServer, tmp_path: Path) -> Iterator[str]:
    """`flask run` in a process of its own on the live server's database; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": live_server.app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": TEST_SECRET,
        "QUIZ_INSTANCE_PATH": str(tmp_path / "second"),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "flask"), "--app", "quiz", "run", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "the second worker did not start"
                assert time.monotonic() < deadline, "the second worker did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_coach_brands_the_site_and_another_worker_shows_it_at_once(
    live_server: LiveServer,
    second_worker: str,
    page: Any,
    check_accessibility: Callable[[Any], None],
    tmp_path: Path,
) -> None:
    # The second worker has served (and cached) its pages with the defaults before the change.
    page.goto(f"{second_worker}/")
    assert page.locator(".brand span").inner_text() == "Ihre Praxis"

    create_test_coach(live_server.app)
    page.goto(f"{live_server.url}/coach/login")
    page.get_by_label("E-Mail-Adresse").fill("coach@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{live_server.url}/coach/")
    expect(page.get_by_role("heading", name="Ihr Impressum ist noch unvollständig")).to_be_visible()
    page.get_by_role("link", name="Impressum jetzt ergänzen").click()
    page.wait_for_url(f"{live_server.url}/coach/einstellungen#site-contact")
    check_accessibility(page)

    # A colour white text cannot be read on: refused, said beside the field, nothing stored.
    page.get_by_label("Name Ihrer Praxis oder Marke").fill("Praxis Sonnenschein")
    page.get_by_label("Markenfarbe").fill("#ffee00")
    page.get_by_role("button", name="Marke speichern").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    assert page.get_by_label("Markenfarbe").get_attribute("aria-invalid") == "true"
    assert "Kontrast" in page.locator("#s-brand-color-error").inner_text()
    check_accessibility(page)
    page.goto(f"{second_worker}/")
    assert page.locator(".brand span").inner_text() == "Ihre Praxis"

    page.goto(f"{live_server.url}/coach/einstellungen")
    page.get_by_label("Name Ihrer Praxis oder Marke").fill("Praxis Sonnenschein")
    page.get_by_label("Markenfarbe").fill("#7a1f5c")
    page.get_by_role("button", name="Marke speichern").click()
    assert page.get_by_role("status").inner_text().startswith("Gespeichert.")
    logo = tmp_path / "logo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (240, 80), "#7a1f5c").save(buffer, format="PNG")
    logo.write_bytes(buffer.getvalue())
    page.get_by_label("Neues Logo (PNG oder JPEG, höchstens 2 MB)").set_input_files(str(logo))
    page.get_by_role("button", name="Logo hochladen").click()
    page.get_by_label("Name (Person oder Firma)").fill("Dr. Erika Muster")
    page.get_by_label("Postanschrift").fill("Musterweg 1\n12345 Musterstadt")
    page.get_by_label("E-Mail-Adresse").fill("kontakt@praxis-sonnenschein.de")
    page.get_by_role("button", name="Kontakt & Impressum speichern").click()
    page.get_by_label("Beschriftung des Knopfs").fill("Termin buchen")
    page.get_by_role("button", name="Handlungsaufforderung speichern").click()
    assert "Für das Impressum fehlen noch" not in page.content()
    check_accessibility(page)

    # The other process shows all of it on its next request, logo and colour included.
    page.goto(f"{second_worker}/")
    assert page.locator(".brand span").inner_text() == "Praxis Sonnenschein"
    assert page.locator(".brand-logo").evaluate("image => image.naturalWidth") == 240
    accent = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    assert accent == "#7a1f5c"
    assert "Praxis Sonnenschein" in page.title()
    page.goto(f"{second_worker}/datenschutz")
    assert "Praxis Sonnenschein" in page.content()
    check_accessibility(page)
