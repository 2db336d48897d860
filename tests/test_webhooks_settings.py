"""The coach settings page: endpoints (secret shown once), test send, the delivery log with
"Erneut senden", and changing one's own password (other sessions end, this one stays)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from quiz.extensions import db
from quiz.webhooks import sender
from quiz.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.coach_factories import PASSWORD, create_test_coach, csrf_token, login
from tests.test_html_valid import vnu_errors
from tests.webhook_receiver import Receiver

SETTINGS = "/coach/einstellungen"
NEW_PASSWORD = "ein-ganz-neues-Passwort-77"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def coach(app: Flask, client: FlaskClient) -> FlaskClient:
    """A logged-in coach."""
    create_test_coach(app)
    assert login(client).status_code == 302
    return client


def _post(client: FlaskClient, target: str, page: str = SETTINGS, **data: object) -> Any:
    """Post a form of `page` (its CSRF token) to `target`."""
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(target, data={"csrf_token": token, **data})


def _add(client: FlaskClient, url: str, events: list[str] | None = None) -> tuple[int, str]:
    """Add an endpoint through the form; returns the status and the page."""
    response = _post(
        client,
        f"{SETTINGS}/webhooks",
        url=url,
        description="Mein CRM",
        events=events if events is not None else ["quiz.completed", "lead.deleted"],
    )
    return response.status_code, response.get_data(as_text=True)


def _endpoint(app: Flask) -> WebhookEndpoint:
    with app.app_context():
        endpoint = db.session.scalars(select(WebhookEndpoint)).one()
        db.session.expunge(endpoint)
        return endpoint


@pytest.mark.dialect_independent
def test_settings_need_a_login(client: FlaskClient) -> None:
    for url in (SETTINGS, f"{SETTINGS}/webhooks/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/coach/login" in response.location
    for target in (f"{SETTINGS}/passwort", f"{SETTINGS}/webhooks", f"{SETTINGS}/webhooks/1/test"):
        response = _post(client, target, page="/coach/login", url="http://127.0.0.1:9/")
        assert response.status_code == 302 and "/coach/login" in response.location


@pytest.mark.dialect_independent
def test_the_navigation_links_to_the_settings(coach: FlaskClient) -> None:
    page = coach.get("/coach/").get_data(as_text=True)
    assert f'href="{SETTINGS}"' in page
    settings = coach.get(SETTINGS)
    assert settings.status_code == 200
    assert settings.headers["Cache-Control"] == "private, no-store"
    assert "Noch kein Endpunkt eingetragen." in settings.get_data(as_text=True)


def test_a_new_endpoint_shows_its_secret_once(
    app: Flask, coach: FlaskClient, receiver: Receiver
) -> None:
    status, page = _add(coach, receiver.url())
    assert status == 200
    endpoint = _endpoint(app)
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret in page and "nur jetzt angezeigt" in page
    assert endpoint.events == ["quiz.completed", "lead.deleted"]
    assert endpoint.description == "Mein CRM"
    later = coach.get(SETTINGS).get_data(as_text=True)
    assert receiver.url() in later
    assert endpoint.secret not in later
    assert endpoint.secret not in coach.get(f"{SETTINGS}/webhooks/{endpoint.id}").get_data(
        as_text=True
    )


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Bitte geben Sie die Adresse an."),
        ("ftp://example.com/x", "beginnt"),
        ("https://user:pw@example.com/x", "Benutzernamen"),
    ],
)
def test_an_unusable_url_is_refused_in_german(
    app: Flask, coach: FlaskClient, url: str, message: str
) -> None:
    status, page = _add(coach, url)
    assert status == 422
    assert message in page
    assert 'aria-invalid="true"' in page
    with app.app_context():
        assert db.session.scalars(select(WebhookEndpoint)).all() == []


@pytest.mark.dialect_independent
@pytest.mark.app_config(WEBHOOK_HTTPS_ONLY=True, WEBHOOK_PUBLIC_ONLY=True)
def test_in_production_only_public_https_urls_are_saved(app: Flask, coach: FlaskClient) -> None:
    status, page = _add(coach, "http://hooks.example.com/x")
    assert status == 422 and "https://" in page
    status, page = _add(coach, "https://192.168.0.10/x")
    assert status == 422 and "internes Netz" in page
    status, _page = _add(coach, "https://hooks.example.com/x")
    assert status == 200


@pytest.mark.dialect_independent
def test_at_least_one_event_must_be_chosen(app: Flask, coach: FlaskClient) -> None:
    status, page = _add(coach, "http://127.0.0.1:9/x", events=[])
    assert status == 422 and "mindestens ein Ereignis" in page


@pytest.mark.dialect_independent
def test_forms_without_the_csrf_token_are_refused(app: Flask, coach: FlaskClient) -> None:
    response = coach.post(f"{SETTINGS}/webhooks", data={"url": "http://127.0.0.1:9/x"})
    assert response.status_code == 400
    assert coach.post(f"{SETTINGS}/passwort", data={}).status_code == 400


def test_edit_pause_resume_and_delete(app: Flask, coach: FlaskClient, receiver: Receiver) -> None:
    _add(coach, receiver.url())
    endpoint_id = _endpoint(app).id
    edit = f"{SETTINGS}/webhooks/{endpoint_id}"
    page = coach.get(edit).get_data(as_text=True)
    assert receiver.url() in page and "checked" in page
    saved = _post(coach, edit, page=edit, url=receiver.url("/neu"), events=["lead.deleted"])
    assert saved.status_code == 302
    endpoint = _endpoint(app)
    assert (endpoint.url, endpoint.events, endpoint.enabled) == (
        receiver.url("/neu"),
        ["lead.deleted"],
        False,  # the "Aktiv" box was not ticked
    )
    _post(coach, f"{SETTINGS}/webhooks/{endpoint_id}/status", enable="1")
    assert _endpoint(app).enabled
    assert "aktiv" in coach.get(SETTINGS).get_data(as_text=True)
    _post(coach, f"{SETTINGS}/webhooks/{endpoint_id}/status", enable="0")
    assert not _endpoint(app).enabled
    deleted = _post(coach, f"{SETTINGS}/webhooks/{endpoint_id}/delete")
    assert deleted.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(WebhookEndpoint)).all() == []
    assert coach.get(edit).status_code == 404


def test_a_new_secret_is_shown_once_and_signs_from_then_on(
    app: Flask, coach: FlaskClient, receiver: Receiver
) -> None:
    _add(coach, receiver.url())
    endpoint = _endpoint(app)
    edit = f"{SETTINGS}/webhooks/{endpoint.id}"
    page = _post(coach, f"{edit}/secret", page=edit).get_data(as_text=True)
    secret = _endpoint(app).secret
    assert secret != endpoint.secret and secret in page
    receiver.secret = secret
    _post(coach, f"{edit}/test")
    sender.deliver_due(app)
    assert [r.verified for r in receiver.requests] == [True]


def test_test_send_reaches_the_receiver_and_the_log_shows_it(
    app: Flask, coach: FlaskClient, receiver: Receiver
) -> None:
    _add(coach, receiver.url())
    receiver.secret = _endpoint(app).secret
    endpoint_id = _endpoint(app).id
    sent = _post(coach, f"{SETTINGS}/webhooks/{endpoint_id}/test")
    assert sent.status_code == 302
    assert "Test-Ereignis" in coach.get(sent.location).get_data(as_text=True)
    assert sender.deliver_due(app).delivered == 1
    [request] = receiver.requests
    assert request.verified and request.payload["type"] == "webhook.test"
    log = coach.get(SETTINGS).get_data(as_text=True)
    assert "zugestellt" in log and request.headers["webhook-id"] in log


def test_a_failed_delivery_can_be_sent_again_with_the_same_webhook_id(
    app: Flask, coach: FlaskClient, receiver: Receiver
) -> None:
    _add(coach, receiver.url())
    receiver.secret = _endpoint(app).secret
    _post(coach, f"{SETTINGS}/webhooks/{_endpoint(app).id}/test")
    receiver.replies.append((410, {}))
    assert sender.deliver_due(app).failed == 1
    log = coach.get(SETTINGS).get_data(as_text=True)
    assert "fehlgeschlagen" in log and "HTTP 410" in log and "Erneut senden" in log
    with app.app_context():
        delivery_id = db.session.scalars(select(WebhookDelivery.id)).one()
    again = _post(coach, f"{SETTINGS}/zustellungen/{delivery_id}/erneut")
    assert "erneut gesendet" in coach.get(again.location).get_data(as_text=True)
    with app.app_context():
        row = db.session.get(WebhookDelivery, delivery_id)
        assert row is not None and (row.status, row.attempts) == ("queued", 0)
    assert sender.deliver_due(app).delivered == 1
    first, second = receiver.ids()
    assert first == second
    # A queued one cannot be "sent again"; the page says so.
    _post(coach, f"{SETTINGS}/webhooks/{_endpoint(app).id}/test")
    with app.app_context():
        waiting = max(db.session.scalars(select(WebhookDelivery.id)).all())
    refused = _post(coach, f"{SETTINGS}/zustellungen/{waiting}/erneut")
    assert "muss nicht erneut" in coach.get(refused.location).get_data(as_text=True)


@pytest.mark.dialect_independent
def test_changing_the_password_needs_the_current_one(app: Flask, coach: FlaskClient) -> None:
    wrong = _post(
        coach,
        f"{SETTINGS}/passwort",
        current="falsch-falsch-falsch",
        new=NEW_PASSWORD,
        repeat=NEW_PASSWORD,
    )
    assert wrong.status_code == 422
    assert "Das aktuelle Passwort stimmt nicht." in wrong.get_data(as_text=True)
    mismatch = _post(
        coach, f"{SETTINGS}/passwort", current=PASSWORD, new=NEW_PASSWORD, repeat="etwas-anderes-1"
    )
    assert mismatch.status_code == 422
    assert "stimmen nicht überein" in mismatch.get_data(as_text=True)
    short = _post(coach, f"{SETTINGS}/passwort", current=PASSWORD, new="kurz", repeat="kurz")
    assert "mindestens 12 Zeichen" in short.get_data(as_text=True)
    other = app.test_client()
    assert login(other, password=PASSWORD).status_code == 302  # the old password still works


def test_a_new_password_ends_other_sessions_and_keeps_this_one(
    app: Flask, coach: FlaskClient
) -> None:
    other = app.test_client()
    assert login(other).status_code == 302
    assert other.get("/coach/").status_code == 200
    changed = _post(
        coach, f"{SETTINGS}/passwort", current=PASSWORD, new=NEW_PASSWORD, repeat=NEW_PASSWORD
    )
    assert changed.status_code == 302
    page = coach.get(changed.location)
    assert page.status_code == 200
    assert "Ihr Passwort wurde geändert" in page.get_data(as_text=True)
    assert coach.get("/coach/").status_code == 200  # this session stays
    assert other.get("/coach/").status_code == 302  # the other one ended
    third = app.test_client()
    assert login(third, password=PASSWORD).status_code == 401
    assert login(third, password=NEW_PASSWORD).status_code == 302


@pytest.mark.dialect_independent
def test_every_settings_page_is_valid_html(
    app: Flask, coach: FlaskClient, receiver: Receiver, tmp_path: Path
) -> None:
    pages = {"settings-empty": coach.get(SETTINGS).get_data(as_text=True)}
    _status, pages["settings-refused"] = _add(coach, "ftp://example.com/x", events=[])
    _status, pages["secret"] = _add(coach, receiver.url())
    receiver.secret = _endpoint(app).secret
    endpoint_id = _endpoint(app).id
    _post(coach, f"{SETTINGS}/webhooks/{endpoint_id}/test")
    receiver.replies.append((500, {}))
    sender.deliver_due(app)
    _post(coach, f"{SETTINGS}/webhooks/{endpoint_id}/test")
    sender.deliver_due(app)
    pages["settings-log"] = coach.get(SETTINGS).get_data(as_text=True)
    pages["edit"] = coach.get(f"{SETTINGS}/webhooks/{endpoint_id}").get_data(as_text=True)
    wrong = _post(coach, f"{SETTINGS}/passwort", current="x", new="kurz", repeat="anders")
    pages["password-refused"] = wrong.get_data(as_text=True)
    assert "wartet" in pages["settings-log"] and "zugestellt" in pages["settings-log"]
    for name, html in pages.items():
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
    assert vnu_errors(tmp_path) == []


@pytest.mark.dialect_independent
@pytest.mark.app_config(RATELIMIT_ENABLED=True)
def test_guessing_the_current_password_is_throttled(app: Flask, coach: FlaskClient) -> None:
    def attempt(current: str) -> int:
        response = _post(
            coach, f"{SETTINGS}/passwort", current=current, new=NEW_PASSWORD, repeat=NEW_PASSWORD
        )
        return int(response.status_code)

    assert [attempt(f"falsch-{n}-xxxxxxx") for n in range(6)] == [422] * 5 + [429]
    assert attempt(PASSWORD) == 429  # even the right one waits now
    assert coach.get("/coach/").status_code == 200  # the session itself is untouched
