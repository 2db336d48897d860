"""The taker's links: double opt-in, unsubscribe, export and deletion, on both databases."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from quiz.app_state import get_content
from quiz.counters import item_stats_rebuild
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.links import DATA, OPTIN, UNSUBSCRIBE, make_token
from quiz.mail.sender import deliver_due
from quiz.models import Answer, Consent, OutboxMessage, Response
from quiz.taker import rights
from quiz.webhooks import endpoints
from quiz.webhooks import sender as webhook_sender
from quiz.webhooks.models import WebhookDelivery
from tests.factories import finished_response
from tests.mailserver import MailServer
from tests.quizflow import complete_quiz, csrf_token
from tests.webhook_receiver import Receiver

CATCH_HOOK = "/hooks/catch/4711/geheimer-pfad/?key=geheimer-schluessel"
LINK = re.compile(r"http://quiz\.test(/[^\s\"<>]+)")


def finish(app: Flask, _client: FlaskClient, first_name: str | None = None) -> str:
    """A finished quiz with the newsletter ticked; the result token."""
    return finished_response(app, first_name=first_name, consent_marketing=True).token


def delivered(app: Flask) -> dict[str, EmailMessage]:
    """Deliver the outbox to a real SMTP server; the messages by kind."""
    server = MailServer().start()
    try:
        app.config.update(server.smtp_config())
        deliver_due(app)
        messages = server.wait_for(1)
    finally:
        server.stop()
    return {
        "optin" if "bestätigen" in str(message["Subject"]) else "result": message
        for message in messages
    }


def text_of(message: EmailMessage) -> str:
    """The plain-text part."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link(message: EmailMessage, prefix: str) -> str:
    """The path of the first link in the message that starts with `prefix`."""
    return next(path for path in LINK.findall(text_of(message)) if path.startswith(prefix))


def marketing(app: Flask) -> Consent:
    """The one marketing consent, detached."""
    with app.app_context():
        consent = db.session.execute(
            select(Consent).where(Consent.kind == "marketing")
        ).scalar_one()
        db.session.expunge(consent)
        return consent


def token_for(app: Flask, purpose: str) -> str:
    """A signed link token for the only response, made now."""
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        return make_token(app.config, purpose, response.id, response.result_token or "")


def test_confirm_link_from_the_email_confirms_and_twice_is_harmless(
    app: Flask, client: FlaskClient
) -> None:
    finish(app, client)
    confirm = link(delivered(app)["optin"], "/bestaetigen/")
    assert marketing(app).confirmed_at is None

    page = client.get(confirm)  # what a mail scanner does: nothing changes yet
    assert page.status_code == 200 and "Anmeldung bestätigen" in page.text
    assert marketing(app).confirmed_at is None

    done = client.post(confirm, data={"csrf_token": csrf_token(page)})
    assert done.status_code == 200 and "Ihre Anmeldung ist bestätigt" in done.text
    confirmed_at = marketing(app).confirmed_at
    assert confirmed_at is not None

    again = client.post(confirm, data={"csrf_token": csrf_token(page)})
    assert again.status_code == 200 and "bereits bestätigt" in again.text
    assert client.get(confirm).status_code == 200
    assert marketing(app).confirmed_at == confirmed_at


@pytest.mark.dialect_independent
def test_expired_confirm_link_offers_a_new_one(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    finish(app, client)
    with app.app_context():
        db.session.execute(db.delete(OutboxMessage))  # the first opt-in mail went out long ago
        db.session.commit()
    eight_days_ago = int(time.time()) - 8 * 24 * 3600
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: eight_days_ago)
        old = token_for(app, OPTIN)

    page = client.get(f"/bestaetigen/{old}")

    assert page.status_code == 410
    assert "abgelaufen" in page.text and "Neuen Link senden" in page.text
    refused = client.post(f"/bestaetigen/{old}", data={"csrf_token": csrf_token(page)})
    assert refused.status_code == 410 and marketing(app).confirmed_at is None
    resent = client.post("/bestaetigen/neu", data={"csrf_token": csrf_token(page), "token": old})
    assert resent.status_code == 200 and "neuer Link ist unterwegs" in resent.text
    with app.app_context():
        kinds = db.session.execute(select(OutboxMessage.kind, OutboxMessage.status)).all()
    assert kinds == [("optin", "queued")]
    fresh = link(delivered(app)["optin"], "/bestaetigen/")
    confirm_page = client.get(fresh)
    client.post(fresh, data={"csrf_token": csrf_token(confirm_page)})
    assert marketing(app).confirmed_at is not None


@pytest.mark.dialect_independent
def test_resend_without_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    finish(app, client)
    answer = client.post("/bestaetigen/neu", data={"token": token_for(app, OPTIN)})
    assert answer.status_code == 400


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    ("make_path", "purpose"),
    [
        (lambda token: f"/bestaetigen/{token}", UNSUBSCRIBE),  # wrong purpose
        (lambda token: f"/abmelden/{token}", DATA),
        (lambda token: f"/daten/{token}", OPTIN),
        (lambda token: f"/daten/{token}/export.json", UNSUBSCRIBE),
    ],
)
def test_link_for_another_purpose_is_refused_with_a_german_page(
    app: Flask, client: FlaskClient, make_path: Callable[[str], str], purpose: str
) -> None:
    finish(app, client)
    page = client.get(make_path(token_for(app, purpose)))
    assert page.status_code == 400
    assert "Dieser Link funktioniert leider nicht" in page.text
    assert 'class="site-header"' in page.text  # in the site's layout


@pytest.mark.dialect_independent
@pytest.mark.parametrize("prefix", ["/bestaetigen/", "/abmelden/", "/daten/"])
def test_tampered_link_is_refused_with_a_german_page(
    app: Flask, client: FlaskClient, prefix: str
) -> None:
    finish(app, client)
    purpose = {"/bestaetigen/": OPTIN, "/abmelden/": UNSUBSCRIBE, "/daten/": DATA}[prefix]
    token = token_for(app, purpose)
    payload, stamp, signature = token.split(".")
    forged = ".".join(
        [payload.replace(payload[1], "X" if payload[1] != "X" else "Y", 1), stamp, signature]
    )
    for bad in (forged, token[:-3], "kaputt"):
        page = client.get(prefix + bad)
        assert page.status_code == 400, bad
        assert "Dieser Link funktioniert leider nicht" in page.text
    if prefix == "/abmelden/":  # the one POST without a CSRF token
        assert client.post(prefix + forged).status_code == 400
    assert marketing(app).withdrawn_at is None


def test_one_click_unsubscribe_post_from_the_mail_header(app: Flask, client: FlaskClient) -> None:
    finish(app, client)
    with app.app_context():
        # A second opt-in mail still waiting must not go out after the unsubscribe.
        response_id = db.session.execute(select(Response.id)).scalar_one()
    result_mail = delivered(app)["result"]
    with app.app_context():
        db.session.add(
            OutboxMessage(response_id=response_id, kind="optin", recipient="kundin@example.com")
        )
        db.session.commit()
    url = str(result_mail["List-Unsubscribe"]).strip("<>").removeprefix("http://quiz.test")

    # RFC 8058: the mail program posts this body, with no cookie and no CSRF token.
    answer = app.test_client().post(url, data={"List-Unsubscribe": "One-Click"})

    assert answer.status_code == 200 and "Sie sind abgemeldet" in answer.text
    assert marketing(app).withdrawn_at is not None
    with app.app_context():
        waiting = db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "queued")
        )
    assert waiting == 0
    assert "bereits abgemeldet" in client.get(url).text


@pytest.mark.dialect_independent
def test_unsubscribe_page_asks_before_it_acts(app: Flask, client: FlaskClient) -> None:
    finish(app, client)
    page = client.get(f"/abmelden/{token_for(app, UNSUBSCRIBE)}")
    assert page.status_code == 200 and "Jetzt abmelden" in page.text
    assert marketing(app).withdrawn_at is None


def data_links(page: str) -> list[str]:
    """The paths of the links to a taker's data pages on a page."""
    return re.findall(r'href="(?:http://quiz\.test)?(/daten/[^"]+)"', page)


def test_result_page_is_no_key_to_the_data(app: Flask, client: FlaskClient) -> None:
    """With an email address the data link is emailed; the result page never shows it."""
    result = complete_quiz(client, app, first_name="Anna")
    first_view = client.get(result.headers["Location"])
    assert first_view.status_code == 200 and "Anna" in first_view.text
    assert data_links(first_view.text) == []
    assert "E-Mail zu Ihrem Ergebnis" in first_view.text
    assert link(delivered(app)["result"], "/daten/")


@pytest.mark.app_config(QUIZ_REQUIRE_EMAIL=False)
def test_without_email_the_data_link_shows_once_to_the_finishing_browser(
    app: Flask, client: FlaskClient
) -> None:
    result = complete_quiz(client, app, email="", first_name="Anna")
    location = result.headers["Location"]
    # Someone who got hold of the result link before the taker's first view sees no data link.
    leaked = app.test_client().get(location)
    assert leaked.status_code == 200 and data_links(leaked.text) == []

    first_view = client.get(location)
    [data_page] = data_links(first_view.text)
    assert "nur dieses eine Mal" in first_view.text
    again = client.get(location)
    assert again.status_code == 200 and data_links(again.text) == []
    assert data_links(app.test_client().get(location).text) == []

    page = client.get(data_page)
    assert page.status_code == 200
    export_url = re.search(r'href="(/daten/[^"]+/export\.json)"', page.text)
    assert export_url
    download = client.get(export_url.group(1))
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    exported = json.loads(download.data)
    with app.app_context():
        answers = dict(db.session.execute(select(Answer.question_id, Answer.option_id)).all())
    assert {a["question_id"]: a["answer_id"] for a in exported["answers"]} == answers
    assert all(a["question"] and a["answer"] for a in exported["answers"])
    assert exported["contact"] == {"first_name": "Anna", "email": None}
    assert exported["result"]["bottleneck"]
    assert download.headers["Referrer-Policy"] == "no-referrer"


def test_deletion_from_the_email_removes_everything(app: Flask, client: FlaskClient) -> None:
    token = finish(app, client)
    data_page = link(delivered(app)["result"], "/daten/")
    page = client.get(data_page)
    assert page.status_code == 200
    confirm = client.get(f"{data_page}/loeschen")
    assert confirm.status_code == 200 and "Wirklich alle Daten löschen?" in confirm.text
    assert client.get(f"/r/{token}").status_code == 200  # nothing gone before the POST

    done = client.post(f"{data_page}/loeschen", data={"csrf_token": csrf_token(confirm)})

    assert done.status_code == 200 and "Ihre Daten sind gelöscht" in done.text
    with app.app_context():
        for model in (Response, Answer, Consent, OutboxMessage):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model
    assert client.get(f"/r/{token}").status_code == 404
    gone = client.get(data_page)
    assert gone.status_code == 404 and "nichts mehr gespeichert" in gone.text


@pytest.mark.dialect_independent
def test_deletion_needs_the_confirmation_form(app: Flask, client: FlaskClient) -> None:
    finish(app, client)
    data_token = token_for(app, DATA)
    assert client.post(f"/daten/{data_token}/loeschen").status_code == 400  # no CSRF token
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 1


def test_link_names_one_response_by_its_secret_not_only_its_id(
    app: Flask, client: FlaskClient
) -> None:
    finish(app, client)
    with app.app_context():
        response_id = db.session.execute(select(Response.id)).scalar_one()
    # A genuine signature over the right id but another result token (an id reused after a
    # deletion, for instance) reaches nothing.
    stranger = make_token(app.config, DATA, response_id, "ein-anderes-ergebnis")
    page = client.get(f"/daten/{stranger}")
    assert page.status_code == 404 and "nichts mehr gespeichert" in page.text


# --- The writers' hooks: webhooks and item statistics move in the same transactions ----------


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    """A real HTTP receiver with an endpoint for every event."""
    server = Receiver()
    with app.app_context():
        # A catch-hook URL as Zapier, Make or n8n give one: its path and query are a credential.
        _endpoint, server.secret = endpoints.add_endpoint(server.url(CATCH_HOOK))
    yield server
    server.stop()


def webhooks_sent(app: Flask, receiver: Receiver) -> list[dict[str, Any]]:
    """Deliver the queued webhooks to the receiver; every payload it got so far, verified."""
    webhook_sender.deliver_due(app)
    assert all(request.verified for request in receiver.requests)
    return [request.payload for request in receiver.requests]


def only_response(app: Flask) -> Response:
    """The one response, detached."""
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        db.session.expunge(response)
        return response


def test_finishing_tells_the_crm_with_the_result_link(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    token = finish(app, client, first_name="Anna")
    [payload] = webhooks_sent(app, receiver)
    assert payload["type"] == "quiz.completed"
    data = payload["data"]
    assert data["result_url"] == f"http://quiz.test/r/{token}"
    assert data["response_id"] == only_response(app).id
    assert (data["email"], data["first_name"]) == ("kundin@example.com", "Anna")
    assert data["newsletter"] == "pending"


def test_without_the_data_consent_the_crm_gets_no_link_and_no_contact(
    app: Flask, receiver: Receiver
) -> None:
    finished_response(app, email=None, first_name="Anna", consent_data=False)
    [payload] = webhooks_sent(app, receiver)
    data = payload["data"]
    assert payload["type"] == "quiz.completed"
    assert not {"result_url", "email", "first_name"} & set(data)
    assert "/r/" not in json.dumps(payload) and "/daten/" not in json.dumps(payload)


def test_confirming_and_unsubscribing_tell_the_crm_once_each(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    finish(app, client)
    confirm = f"/bestaetigen/{token_for(app, OPTIN)}"
    page = client.get(confirm)
    for _ in range(2):  # the second confirmation changes nothing and tells nobody
        assert client.post(confirm, data={"csrf_token": csrf_token(page)}).status_code == 200
    unsubscribe = f"/abmelden/{token_for(app, UNSUBSCRIBE)}"
    for _ in range(2):
        answer = app.test_client().post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
    payloads = webhooks_sent(app, receiver)
    assert [p["type"] for p in payloads] == [
        "quiz.completed",
        "lead.optin_confirmed",
        "lead.unsubscribed",
    ]
    response_id = only_response(app).id
    assert payloads[1]["data"]["response_id"] == response_id
    assert payloads[2]["data"]["response_ids"] == [response_id]


def test_deleting_a_taker_drops_their_webhooks_and_tells_the_crm(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    finish(app, client)
    response_id = only_response(app).id
    assert len(webhooks_sent(app, receiver)) == 1
    with app.app_context():
        assert rights.delete_data(response_id)
        rows = db.session.execute(select(WebhookDelivery)).scalars().all()
        assert [(row.event_type, row.response_id) for row in rows] == [("lead.deleted", None)]
        assert "kundin@example.com" not in rows[0].payload
    deleted = webhooks_sent(app, receiver)[-1]
    assert deleted["type"] == "lead.deleted" and deleted["data"]["response_id"] == response_id


def test_the_export_lists_the_webhooks_sent_about_the_taker(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    finish(app, client)
    webhooks_sent(app, receiver)
    download = client.get(f"/daten/{token_for(app, DATA)}/export.json")
    assert download.status_code == 200
    [sent] = json.loads(download.data)["webhooks"]
    assert sent["event"] == "quiz.completed" and sent["status"] == "delivered"
    assert sent["endpoint_host"] == "127.0.0.1"
    assert receiver.requests[0].path == CATCH_HOOK
    exported = download.get_data(as_text=True)
    assert "geheimer" not in exported and "/hooks/catch" not in exported
    assert sent["webhook_id"] == receiver.requests[0].headers["webhook-id"]


def test_finishing_and_deleting_keep_the_item_statistics_in_step(
    app: Flask, client: FlaskClient
) -> None:
    finish(app, client)
    with app.app_context():
        judged = db.session.execute(select(Response.quality_flags)).scalar_one()
        assert judged is not None
        assert item_stats_rebuild.check() == []
        assert sum(item_stats_rebuild.snapshot()["score_histogram"].values()) > 0
        assert rights.delete_data(only_response(app).id)
        assert item_stats_rebuild.check() == []
        assert all(not counters for counters in item_stats_rebuild.snapshot().values())


def test_a_not_applicable_answer_is_stored_without_points(app: Flask, client: FlaskClient) -> None:
    content = get_content(app)
    question, na = next(
        (question, choice)
        for question in content.questions
        for choice in content.choices(question.id)
        if not choice.applicable
    )
    answers = sample_answers(content, "random", seed=5) | {question.id: na.id}
    assert complete_quiz(client, app, answers, consent_marketing="y").status_code == 302
    with app.app_context():
        points = dict(db.session.execute(select(Answer.question_id, Answer.points)).all())
        assert points[question.id] is None
        assert all(value is not None for key, value in points.items() if key != question.id)
        assert item_stats_rebuild.check() == []
