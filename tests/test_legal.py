"""The legal pages (issue 22, item 2): the Impressum from the contact settings, a privacy notice
generated from what this installation does, both linked from every public page, every email and
the PDF."""

from __future__ import annotations

import io
import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from quiz.extensions import db
from quiz.links import DATA, external_url, make_token
from quiz.mail.compose import compose, compose_coach_alert, new_message_id
from quiz.models import Response
from quiz.site import privacy_notice as privacy
from quiz.site import settings as site_settings
from quiz.site.processings import PROCESSINGS
from quiz.site.schema import DEFAULT_BRAND
from quiz.taker import pdf
from quiz.web.legal import _storage_host
from quiz.webhooks import endpoints
from tests.factories import finished_response
from tests.quizflow import start

CONTACT = {
    "contact.name": "Dr. Erika Muster",
    "contact.address": "Musterweg 1\n12345 Musterstadt",
    "contact.email": "kontakt@praxis-muster.de",
    "contact.phone": "+49 30 1234567",
    "legal.impressum_extra": "USt-IdNr.: DE123456789\nKammer: Musterkammer",
}
IMPRESSUM = "http://quiz.test/impressum"
PRIVACY = "http://quiz.test/datenschutz"


def url_path(url: str) -> str:
    """The path of an absolute link."""
    return urlsplit(url).path


def _fill_in(app: Flask, **more: str) -> None:
    with app.app_context():
        site_settings.update({**CONTACT, **more}, "test")


def _plain(html: str) -> str:
    """The page's text, tags and line breaks gone (what a reader sees, in one line)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- the Impressum ------------------------------------------------------------------------------


@pytest.mark.dialect_independent
def test_the_impressum_shows_every_field_of_the_contact_settings(
    app: Flask, client: FlaskClient
) -> None:
    _fill_in(app)
    page = client.get("/impressum")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = _plain(html)
    assert "Angaben gemäß § 5 DDG" in text
    assert "Dr. Erika Muster Musterweg 1 12345 Musterstadt" in text
    assert "Musterweg 1<br>12345 Musterstadt" in html
    assert '<a href="mailto:kontakt@praxis-muster.de">' in html
    assert "Telefon: +49 30 1234567" in text
    assert "USt-IdNr.: DE123456789<br>Kammer: Musterkammer" in html
    assert f'<link rel="canonical" href="{IMPRESSUM}">' in html


@pytest.mark.dialect_independent
def test_an_empty_impressum_says_it_is_being_completed(client: FlaskClient) -> None:
    text = _plain(client.get("/impressum").get_data(as_text=True))
    assert "werden gerade ergänzt" in text
    assert "Kontakt" not in text.split("Impressum", 2)[-1]


@pytest.mark.dialect_independent
def test_the_settings_are_escaped_on_the_legal_pages(app: Flask, client: FlaskClient) -> None:
    _fill_in(app, **{"contact.name": "<script>alert(1)</script>"})
    for url in ("/impressum", "/datenschutz"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html


# --- the privacy notice -------------------------------------------------------------------------


def _sections(html: str) -> dict[str, str]:
    """Each processing's section text by its title."""
    found = {}
    for title, body in re.findall(
        r'<h3 id="h-v-\d+">([^<]+)</h3>(.*?)</section>', html, flags=re.DOTALL
    ):
        found[title] = _plain(body)
    return found


@pytest.mark.app_config(
    SMTP_HOST="smtp.mailer.example",
    QUIZ_ANONYMISE_DAYS=90,
    QUIZ_OPTIN_DAYS=14,
    MAIL_OPTIN_DAYS=3,
    RATELIMIT_ENABLED=True,
    QUIZ_LIMIT_STEP="120 per minute; 1500 per day",
)
def test_the_privacy_notice_describes_what_this_installation_does(
    app: Flask, client: FlaskClient
) -> None:
    _fill_in(app, **{"privacy.hosting": "Hoster GmbH\nServerweg 2", "privacy.extra": "Zusatz."})
    with app.app_context():
        endpoints.add_endpoint("https://hooks.crm.example/quiz", events=["quiz.completed"])
        endpoints.add_endpoint(
            "https://hooks.crm.example/optin", events=["lead.optin_confirmed", "lead.deleted"]
        )
        endpoints.add_endpoint(
            "https://n8n.coach.example/hook", events=["lead.updated", "lead.deleted"]
        )
    html = client.get("/datenschutz").get_data(as_text=True)
    text = _plain(html)
    assert "Verantwortlich Dr. Erika Muster Musterweg 1 12345 Musterstadt" in text
    sections = _sections(html)
    assert list(sections) == [
        "Aufruf der Website",
        "Cookies",
        "Ihre Antworten im Quiz",
        "Woher Sie zum Quiz kamen",
        "Ihr Ergebnis",
        "Ihr Bericht als PDF",
        "Ihre E-Mail-Adresse und die Zusammenfassung",
        "Newsletter und Bestätigung der Anmeldung (Double-Opt-in)",
        "Klicks auf den Knopf zum Gespräch",
        "Zählung der Aufrufe der Startseite",
        "Vergleich von Textfassungen (A/B-Test)",
        "Nachfass-E-Mails zu Ihrem Engpass",
        "Erneute Einschätzung (vorher und nachher)",
        "Bearbeitung Ihrer Anfrage",
        "Weitergabe an hooks.crm.example",
        "Weitergabe an n8n.coach.example",
        "E-Mail-Versand über smtp.mailer.example",
        "Schutz vor Missbrauch",
    ]
    for title, section in sections.items():
        for label in ("Welche Daten", "Wozu", "Rechtsgrundlage", "Wie lange", "Wer sie erhält"):
            assert label in section, (title, label)
        assert re.search(r"Art\. 6 Abs\. 1 lit\. [abf] DSGVO", section), title
    # Retention from the configuration.
    assert "nach 90 Tagen" in sections["Ihr Ergebnis"]
    assert "Nicht bestätigte Anmeldungen löschen wir nach 14 Tagen" in text
    assert "Bestätigungslink verfällt nach 3 Tagen" in text
    assert "spätestens nach einem Tag" in sections["Schutz vor Missbrauch"]  # 1500 per day
    # Recipients: each webhook host with what it receives, the SMTP server, the hosting.
    crm = sections["Weitergabe an hooks.crm.example"]
    assert "Ihr Ergebnis" in crm and "Newsletter-Anmeldung" in crm and "Kennnummer" in crm
    n8n = sections["Weitergabe an n8n.coach.example"]
    assert "Kennnummer" in n8n and "Ihr Ergebnis" not in n8n
    assert "Bearbeitungsstand und die Schlagwörter Ihres Kontakts (nie die Notizen)" in n8n
    assert "2 Tage, 5 Tage und 10 Tage danach" in sections["Nachfass-E-Mails zu Ihrem Engpass"]
    assert "Mailservers smtp.mailer.example" in sections["E-Mail-Versand über smtp.mailer.example"]
    email = sections["Ihre E-Mail-Adresse und die Zusammenfassung"]
    assert "smtp.mailer.example" in email and "hooks.crm.example" in email
    assert "Hoster GmbH" in sections["Aufruf der Website"]
    assert "Hosting" in text and "Serverweg 2" in text
    assert "Weitere Hinweise Zusatz." in text
    # The rights and how to use them.
    for article in ("Art. 15", "Art. 17", "Art. 7 Abs. 3", "Art. 21", "Art. 77"):
        assert article in text
    assert "„Ihre Daten herunterladen oder löschen“" in text
    assert '<a href="mailto:kontakt@praxis-muster.de">' in html


@pytest.mark.dialect_independent
def test_without_smtp_webhooks_or_rate_limits_the_notice_names_none(
    app: Flask, client: FlaskClient
) -> None:
    html = client.get("/datenschutz").get_data(as_text=True)
    titles = list(_sections(html))
    assert not [t for t in titles if t.startswith(("Weitergabe", "E-Mail-Versand", "Schutz"))]
    # The follow-up series only while it is switched on.
    assert "Nachfass-E-Mails zu Ihrem Engpass" in titles
    with app.app_context():
        site_settings.update({"followup.enabled": "false"}, "test")
    assert "Nachfass-E-Mails" not in client.get("/datenschutz").get_data(as_text=True)
    assert "Hosting" not in _plain(html)
    # The controller falls back to the brand until the Impressum names one.
    assert f"Verantwortlich {DEFAULT_BRAND}" in _plain(html)


@pytest.mark.dialect_independent
def test_every_entry_has_purpose_basis_storage_and_recipients() -> None:
    facts = privacy.Facts(
        controller="X",
        contact_email="x@example.com",
        optin_days=30,
        anonymise_days=365,
        optin_link_days=7,
        draft_cookie_days=30,
        require_email=False,
        smtp_host="smtp.example",
        ratelimit_host="redis.example",
        ratelimit_seconds=3600,
        webhook_hosts=(privacy.WebhookHost("a.example", ("quiz.completed",)),),
        followup_schedule="2d",
        notify_new_lead=True,
    )
    entries = privacy.notice(facts, PROCESSINGS)
    assert {entry.key for entry in entries} == {p.key for p in PROCESSINGS}
    for entry in entries:
        assert entry.data and entry.purpose and entry.bases and entry.storage and entry.recipients
        assert "{" not in entry.title + entry.data + entry.storage + entry.recipients
    by_key = {entry.key: entry for entry in entries}
    assert "freiwillig; ohne sie" in by_key["email"].data
    assert by_key["ratelimit"].recipients == "Der Betreiber des Zwischenspeichers redis.example."
    assert "nach einer Stunde" in by_key["ratelimit"].storage
    assert "Nach einem Jahr" in by_key["answers"].storage


@pytest.mark.dialect_independent
def test_periods_read_as_german() -> None:
    assert privacy.schedule("2d 5d 10d") == "2 Tage, 5 Tage und 10 Tage"
    assert privacy.schedule("1w 36h") == "1 Woche und 36 Stunden"
    assert [privacy.period(d) for d in (1, 7, 365, 730)] == [
        "einem Tag",
        "7 Tagen",
        "einem Jahr",
        "2 Jahren",
    ]
    assert [privacy.duration(s) for s in (60, 600, 3600, 7200, 86400)] == [
        "einer Minute",
        "10 Minuten",
        "einer Stunde",
        "2 Stunden",
        "einem Tag",
    ]


@pytest.mark.dialect_independent
def test_the_rate_limit_storage_is_named_only_when_it_is_another_machine() -> None:
    assert _storage_host("memory://") == ""
    assert _storage_host("redis://127.0.0.1:6379/0") == ""
    assert _storage_host("redis://localhost/1") == ""
    assert _storage_host("redis+unix:///run/redis.sock") == ""
    assert _storage_host("redis://:secret@cache.internal.example:6379/0") == (
        "cache.internal.example"
    )


def test_a_privacy_file_becomes_the_addition_on_the_first_start(app: Flask, tmp_path: Path) -> None:
    notes = tmp_path / "privacy.txt"
    notes.write_text("Unser Datenschutzbeauftragter:\nMax Muster\n", encoding="utf-8")
    app.config["QUIZ_PRIVACY_FILE"] = str(notes)
    with app.app_context():
        current = site_settings.current()
        assert current.text("privacy.extra") == "Unser Datenschutzbeauftragter:\nMax Muster"
    html = app.test_client().get("/datenschutz").get_data(as_text=True)
    assert "Unser Datenschutzbeauftragter:<br>Max Muster" in html


# --- linked everywhere --------------------------------------------------------------------------

FOOTER = ('<a href="/impressum">Impressum</a>', '<a href="/datenschutz">Datenschutz</a>')


@pytest.mark.dialect_independent
def test_every_public_page_links_both_legal_pages(app: Flask, client: FlaskClient) -> None:
    done = finished_response(app)
    start(client)  # a draft for the quiz page
    with app.app_context():
        data_link = url_path(
            external_url(
                app, "account.data", token=make_token(app.config, DATA, done.id, done.token)
            )
        )
    pages = [
        data_link,
        "/",
        "/quiz/1",
        done.path,
        "/impressum",
        "/datenschutz",
        "/coach/login",
        "/gibt-es-nicht",
    ]
    for url in pages:
        html = client.get(url).get_data(as_text=True)
        for link in FOOTER:
            assert link in html, (url, link)


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_content()  # type: ignore[attr-defined]
        elif part.get_content_type() == "text/html":
            html = part.get_content()  # type: ignore[attr-defined]
    return text, html


@pytest.mark.dialect_independent
def test_every_email_names_the_sender_and_links_impressum_and_privacy(app: Flask) -> None:
    _fill_in(app)
    finished_response(app, consent_marketing=True)
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        messages = [
            compose(
                app,
                kind=kind,
                recipient="kundin@example.com",
                message_id=new_message_id(app.config),
                response=response,
            )
            for kind in ("result", "optin")
        ]
        messages.append(
            compose_coach_alert(
                app,
                recipient="coach@example.com",
                message_id=new_message_id(app.config),
                locked_minutes=15,
            )
        )
    sender = "Dr. Erika Muster, Musterweg 1, 12345 Musterstadt"
    for message in messages:
        text, html = _parts(message)
        assert f"Absender: {sender}\nImpressum: {IMPRESSUM}" in text
        assert f"Datenschutz: {PRIVACY}" in text
        assert f'{sender} · <a href="{IMPRESSUM}"' in html
        assert f'<a href="{PRIVACY}"' in html


@pytest.mark.dialect_independent
def test_the_pdf_names_the_publisher_and_both_legal_pages(app: Flask, client: FlaskClient) -> None:
    _fill_in(app)
    done = finished_response(app)
    for _ in range(200):
        answer = client.get(f"/r/{done.token}/bericht.pdf")
        if answer.status_code == 200:
            break
        assert answer.status_code == 202
        assert pdf.wait_for_renders(app, timeout=60)
    reader = PdfReader(io.BytesIO(answer.data))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "Herausgegeben von Dr. Erika Muster, Musterweg 1, 12345 Musterstadt" in text
    assert IMPRESSUM in text and PRIVACY in text
    links = {
        annotation.get_object()["/A"]["/URI"]
        for page in reader.pages
        for annotation in page.get("/Annots") or []
        if "/A" in annotation.get_object()
    }
    assert {IMPRESSUM, PRIVACY} <= links
