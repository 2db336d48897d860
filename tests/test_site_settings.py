"""The site settings (issue 22, item 1): checked the same way on the page and the command line,
effective at once everywhere (every page, the preview image, both emails, a new PDF), recorded,
taken over from the environment on the first start only."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select

from quiz import create_app
from quiz.extensions import db
from quiz.mail.sender import deliver_due
from quiz.share_image import share_image_png
from quiz.site import settings as site_settings
from quiz.site.models import SiteSettingChange, SiteState
from quiz.site.schema import DEFAULT_BRAND, DEFAULT_COLOR, build_schema
from quiz.site.value_checks import (
    SettingError,
    check_color,
    check_cta_url,
    check_frame_ancestors,
)
from quiz.taker import pdf
from tests.coach_factories import create_test_coach, csrf_token, login
from tests.factories import finished_response
from tests.mailserver import MailServer

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = build_schema([("preise", "Preise")])

# Every group of the page with values a coach would enter.
PAGE_VALUES: dict[str, dict[str, str]] = {
    "brand": {"brand.name": "Praxis Sonnenschein", "brand.color": "#7a1f5c"},
    "contact": {
        "contact.name": "Dr. Erika Muster",
        "contact.address": "Musterweg 1\r\n12345 Musterstadt",
        "contact.email": "kontakt@praxis-sonnenschein.de",
        "contact.phone": "+49 30 1234567",
        "legal.impressum_extra": "USt-IdNr.: DE123456789",
    },
    "privacy": {"privacy.hosting": "Hoster GmbH, Serverweg 2, 10115 Berlin", "privacy.extra": ""},
    "cta": {
        "cta.label": "Termin buchen",
        "cta.url": "https://praxis-sonnenschein.de/termin",
        "cta.text": "Lassen Sie uns gemeinsam auf Ihre Antworten schauen.",
        "cta.text.preise": "Ihr Engpass sind die Preise – im Erstgespräch rechnen wir nach.",
    },
    "mail": {
        "mail.sender_name": "Erika von Praxis Sonnenschein",
        "mail.sender_address": "quiz@praxis-sonnenschein.de",
    },
    "notify": {"notify.new_lead": "true"},
    "embed": {"embed.frame_ancestors": "'self' https://www.praxis-sonnenschein.de"},
}


def png(size: tuple[int, int] = (120, 60), color: str = "#7a1f5c", **info: Any) -> bytes:
    """A PNG the tests draw themselves; `info` becomes text chunks (metadata)."""
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    for key, value in info.items():
        meta.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


# --- the checks (no app, no database) -----------------------------------------------------------


def test_the_brand_colour_needs_aa_contrast_for_white_text() -> None:
    assert check_color("brand.color", DEFAULT_COLOR) == DEFAULT_COLOR
    assert check_color("brand.color", " 333 ") == "#333333"
    with pytest.raises(SettingError) as too_light:
        check_color("brand.color", "#ffcc00")
    assert "Kontrast 1.5 : 1" in too_light.value.message
    assert "mindestens 4.5 : 1" in too_light.value.message
    for bad in ("blue", "#12345", "rgb(0,0,0)", "#0b5563;}body{display:none"):
        with pytest.raises(SettingError):
            check_color("brand.color", bad)


def test_the_call_to_action_leads_to_https_or_mailto_only() -> None:
    assert check_cta_url("cta.url", "https://example.org/termin?x=1") == (
        "https://example.org/termin?x=1"
    )
    assert check_cta_url("cta.url", "mailto:kontakt@example.org?subject=Quiz")
    for bad in (
        "http://example.org",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://user:pw@example.org/",
        "mailto:keine-adresse",
        "//example.org",
        "https://",
    ):
        with pytest.raises(SettingError):
            check_cta_url("cta.url", bad)


def test_texts_refuse_control_and_bidi_characters_and_keep_to_their_length() -> None:
    with pytest.raises(SettingError, match="unsichtbare"):
        SCHEMA.check("brand.name", "Praxis \u202eevil")
    with pytest.raises(SettingError, match="Zeilenumbruch"):
        SCHEMA.check("brand.name", "Praxis\nBcc: x@example.org")
    with pytest.raises(SettingError, match="höchstens 80"):
        SCHEMA.check("brand.name", "x" * 81)
    assert SCHEMA.check("contact.address", " Weg 1 \r\n 12345 Ort ") == "Weg 1\n12345 Ort"
    assert SCHEMA.check("contact.email", "Kontakt@Example.ORG") == "Kontakt@example.org"
    with pytest.raises(SettingError):
        SCHEMA.check("contact.email", "=?utf-8?q?x?=@example.org")
    assert check_frame_ancestors("embed.frame_ancestors", "") == "'self'"
    with pytest.raises(SettingError, match="nicht: 'unsafe-inline'"):
        check_frame_ancestors("embed.frame_ancestors", "'self' 'unsafe-inline'")
    with pytest.raises(SettingError, match="gibt es nicht"):
        SCHEMA.check("brand.slogan", "x")
    assert SCHEMA.get("cta.text.preise") is not None


# --- the command line ---------------------------------------------------------------------------


def _show(runner: FlaskCliRunner) -> dict[str, Any]:
    result = runner.invoke(args=["settings", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.output)
    return shown


def _version(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(SiteState.settings_version)) or 0)


def _changes(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(SiteSettingChange)) or 0)


def test_show_prints_one_flat_json_object_with_every_default(
    app: Flask, runner: FlaskCliRunner
) -> None:
    shown = _show(runner)
    assert list(shown) == list(site_settings.all_keys(app))
    assert shown["brand.name"] == DEFAULT_BRAND
    assert shown["notify.new_lead"] is False
    assert shown["brand.logo"] == ""
    assert "cta.text.preise" in shown
    with app.app_context():
        assert all(not isinstance(value, dict | list) for value in _show(runner).values()), (
            "one flat object"
        )


def test_set_checks_stores_records_and_an_empty_value_restores_the_default(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert (
        runner.invoke(args=["settings", "set", "brand.name", "Praxis Sonnenschein"]).exit_code == 0
    )
    assert runner.invoke(args=["settings", "set", "notify.new_lead", "true"]).exit_code == 0
    address = tmp_path / "address.txt"
    address.write_text("Musterweg 1\n12345 Musterstadt\n", encoding="utf-8")
    assert (
        runner.invoke(args=["settings", "set", "contact.address", "--file", str(address)]).exit_code
        == 0
    )
    shown = _show(runner)
    assert shown["brand.name"] == "Praxis Sonnenschein"
    assert shown["notify.new_lead"] is True
    assert shown["contact.address"] == "Musterweg 1\n12345 Musterstadt"
    before = (_version(app), _changes(app))
    bad = runner.invoke(args=["settings", "set", "brand.color", "#ffff00"])
    assert bad.exit_code == 1
    assert "Kontrast" in bad.output
    unknown = runner.invoke(args=["settings", "set", "brand.slogan", "x"])
    assert unknown.exit_code == 1 and "gibt es nicht" in unknown.output
    assert (_version(app), _changes(app)) == before  # nothing changed
    assert runner.invoke(args=["settings", "set", "brand.name", ""]).exit_code == 0
    assert _show(runner)["brand.name"] == DEFAULT_BRAND
    with app.app_context():
        latest = site_settings.history()[0]
        assert (latest.key, latest.old_value, latest.new_value, latest.changed_by) == (
            "brand.name",
            "Praxis Sonnenschein",
            None,
            "cli",
        )


def test_the_logo_is_set_from_a_file_re_encoded_and_served_from_this_site(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    original = tmp_path / "logo.png"
    original.write_bytes(png((2400, 600), Author="Jemand", Comment="geheim"))
    assert (
        runner.invoke(args=["settings", "set", "brand.logo", "--file", str(original)]).exit_code
        == 0
    )
    path = _show(runner)["brand.logo"]
    assert re.fullmatch(r"/marke/logo-[0-9a-f]{64}\.png", path)
    served = client.get(path)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    image = Image.open(io.BytesIO(served.data))
    assert image.size == (800, 200)  # at most 800 × 400, the proportions kept
    assert "Author" not in image.info and "Comment" not in image.info
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>')
    refused = runner.invoke(args=["settings", "set", "brand.logo", "--file", str(svg)])
    assert refused.exit_code == 1 and "SVG" in refused.output
    assert _show(runner)["brand.logo"] == path
    assert client.get("/marke/logo-" + "0" * 64 + ".png").status_code == 404


# --- the page -----------------------------------------------------------------------------------


def _coach(app: Flask, client: FlaskClient) -> str:
    create_test_coach(app)
    assert login(client).status_code == 302
    return csrf_token(client.get("/coach/einstellungen").get_data(as_text=True))


def test_every_group_is_saved_on_the_page_and_recorded_with_the_coach(
    app: Flask, client: FlaskClient
) -> None:
    token = _coach(app, client)
    page = client.get("/coach/einstellungen").get_data(as_text=True)
    for label in (
        "Marke",
        "Kontakt &amp; Impressum",
        "Datenschutz",
        "Handlungsaufforderung",
        "E-Mail-Absender",
        "Benachrichtigungen",
    ):
        assert f">{label}</h2>" in page, label
    assert "Für das Impressum fehlen noch:" in page
    for group, values in PAGE_VALUES.items():
        saved = client.post(
            f"/coach/einstellungen/website/{group}", data={"csrf_token": token, **values}
        )
        assert saved.status_code == 302, (group, saved.get_data(as_text=True)[:500])
    with app.app_context():
        current = site_settings.current()
        assert current.brand_name == "Praxis Sonnenschein"
        assert current.text("contact.address") == "Musterweg 1\n12345 Musterstadt"
        assert current.flag("notify.new_lead") is True
        assert current.cta_text("preise").startswith("Ihr Engpass sind die Preise")
        assert current.cta_text("werte") == PAGE_VALUES["cta"]["cta.text"]
        assert current.impressum_missing == []
        assert {change.changed_by for change in site_settings.history()} == {
            "coach:coach@example.com"
        }
    page = client.get("/coach/einstellungen").get_data(as_text=True)
    assert "Für das Impressum fehlen noch" not in page
    assert "coach@example.com" in page and "Änderungsprotokoll" in page
    # Unticking the box stores false.
    client.post("/coach/einstellungen/website/notify", data={"csrf_token": token})
    with app.app_context():
        assert site_settings.current().flag("notify.new_lead") is False


@pytest.mark.dialect_independent
def test_bad_values_on_the_page_get_german_messages_and_nothing_is_stored(
    app: Flask, client: FlaskClient
) -> None:
    token = _coach(app, client)
    before = (_version(app), _changes(app))
    refused = client.post(
        "/coach/einstellungen/website/brand",
        data={"csrf_token": token, "brand.name": "Praxis Sonnenschein", "brand.color": "#ffee00"},
    )
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "Bitte prüfen Sie die markierten Angaben; gespeichert wurde nichts." in text
    assert "Weiße Schrift auf dieser Farbe ist schlecht lesbar" in text
    assert 'value="#ffee00"' in text and 'value="Praxis Sonnenschein"' in text  # nothing lost
    cta = client.post(
        "/coach/einstellungen/website/cta",
        data={"csrf_token": token, "cta.url": "javascript:alert(1)"},
    )
    assert cta.status_code == 422 and "https://" in cta.get_data(as_text=True)
    assert (_version(app), _changes(app)) == before
    assert client.post("/coach/einstellungen/website/brand", data={}).status_code == 400  # no CSRF
    assert (
        client.post("/coach/einstellungen/website/nope", data={"csrf_token": token}).status_code
        == 404
    )
    for upload, message in (
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"GIF89a" + b"\0" * 20, "PNG- oder JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"kaputt", "kein lesbares"),
    ):
        answer = client.post(
            "/coach/einstellungen/website/logo",
            data={"csrf_token": token, "logo": (io.BytesIO(upload), "logo.png")},
            content_type="multipart/form-data",
        )
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), message
    assert (_version(app), _changes(app)) == before


def test_a_logo_uploaded_on_the_page_shows_in_the_header(app: Flask, client: FlaskClient) -> None:
    token = _coach(app, client)
    uploaded = client.post(
        "/coach/einstellungen/website/logo",
        data={"csrf_token": token, "logo": (io.BytesIO(png()), "logo.png")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302
    landing = client.get("/").get_data(as_text=True)
    src = re.search(
        r'<img src="(/marke/logo-[0-9a-f]{64}\.png)" alt="" class="brand-logo"', landing
    )
    assert src and client.get(src.group(1)).status_code == 200
    removed = client.post(
        "/coach/einstellungen/website/logo", data={"csrf_token": token, "remove": "1"}
    )
    assert removed.status_code == 302
    assert "brand-logo" not in client.get("/").get_data(as_text=True)


# --- everywhere at once -------------------------------------------------------------------------


def _text_parts(message: EmailMessage) -> str:
    return "\n".join(
        str(part.get_content())
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    )


def _pdf_text(client: FlaskClient, app: Flask, token: str) -> str:
    for _ in range(200):
        answer = client.get(f"/r/{token}/bericht.pdf")
        if answer.status_code == 200:
            reader = PdfReader(io.BytesIO(answer.data))
            return " ".join(page.extract_text() for page in reader.pages)
        assert answer.status_code == 202
        assert pdf.wait_for_renders(app, timeout=60)
    raise AssertionError("the PDF never arrived")


def test_a_change_shows_at_once_on_every_page_in_both_emails_and_in_a_new_pdf(
    app: Flask, client: FlaskClient
) -> None:
    # Before: a quiz page and a result page are cached, a PDF is stored, the preview has a URL.
    old = finished_response(app, first_name="Ada")
    taker = app.test_client()
    taker.post(
        "/quiz/start", data={"csrf_token": csrf_token(taker.get("/").get_data(as_text=True))}
    )
    assert DEFAULT_BRAND in taker.get("/quiz/1").get_data(as_text=True)
    assert DEFAULT_BRAND in client.get(old.path).get_data(as_text=True)
    assert DEFAULT_BRAND in _pdf_text(client, app, old.token)
    preview = re.search(r'og:image" content="([^"]+)"', client.get("/").get_data(as_text=True))
    assert preview
    with app.app_context():
        site_settings.update(
            {key: value for values in PAGE_VALUES.values() for key, value in values.items()},
            "test",
        )
        site_settings.set_logo(share_image_png("Logo", ["Logo"], "Logo"), "test")
    brand = "Praxis Sonnenschein"
    landing = client.get("/").get_data(as_text=True)
    assert f"<span>{brand}</span>" in landing and f'og:site_name" content="{brand}"' in landing
    assert '<meta name="theme-color" content="#7a1f5c">' in landing
    sheet = re.search(r'href="(/marke/farbe-7a1f5c\.css)"', landing)
    assert sheet and "--accent: #7a1f5c;" in client.get(sheet.group(1)).get_data(as_text=True)
    assert re.search(r'og:image" content="([^"]+)"', landing).group(1) != preview.group(1)  # type: ignore[union-attr]
    assert f"<span>{brand}</span>" in taker.get("/quiz/1").get_data(as_text=True)
    assert brand in client.get(old.path).get_data(as_text=True)
    assert (
        client.get("/")
        .headers["Content-Security-Policy"]
        .endswith("frame-ancestors 'self' https://www.praxis-sonnenschein.de")
    )
    assert "frame-ancestors 'none'" in client.get("/coach/login").headers["Content-Security-Policy"]
    assert brand in client.get("/datenschutz").get_data(as_text=True)
    # The stored PDF is a document of its moment; a new result's PDF shows the new brand.
    assert brand not in _pdf_text(client, app, old.token)
    new = finished_response(app, first_name="Grace", email="grace@example.com")
    new_pdf = _pdf_text(client, app, new.token)
    assert brand in new_pdf and DEFAULT_BRAND not in new_pdf
    # Both emails of the new result: the brand in both parts, the sender from the settings.
    server = MailServer().start()
    try:
        app.config.update(server.smtp_config())
        deliver_due(app)
        messages = server.wait_for(2)
    finally:
        server.stop()
    for message in messages:
        assert message["From"] == "Erika von Praxis Sonnenschein <quiz@praxis-sonnenschein.de>"
        assert brand in _text_parts(message)


def test_another_worker_and_another_process_see_a_change_at_once(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    config = {
        key: app.config[key]
        for key in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "PUBLIC_URL")
    } | {"SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    second = create_app(config)  # a worker of its own: its own caches, the same database
    other = second.test_client()
    try:
        assert DEFAULT_BRAND in other.get("/").get_data(as_text=True)
        with app.app_context():
            site_settings.update({"brand.name": "Praxis Sonnenschein"}, "test")
        assert "<span>Praxis Sonnenschein</span>" in other.get("/").get_data(as_text=True)
    finally:
        with second.app_context():
            db.engine.dispose()
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A separate process (the command line) changes it; this worker shows it next request.
        env = {
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "QUIZ_INSTANCE_PATH": str(tmp_path),
        }
        subprocess.run(
            [
                str(Path(sys.executable).parent / "flask"),
                "--app",
                "quiz",
                "settings",
                "set",
                "brand.name",
                "Praxis am See",
            ],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert "<span>Praxis am See</span>" in client.get("/").get_data(as_text=True)


# --- the first start ----------------------------------------------------------------------------


@pytest.mark.app_config(
    QUIZ_COACH_NAME="Praxis aus der Umgebung",
    QUIZ_CTA_URL="https://example.org/termin",
    QUIZ_FRAME_ANCESTORS="'self' https://www.example.org",
    MAIL_FROM="Quiz <quiz@example.org>",
)
def test_the_first_start_takes_over_the_environment_once(app: Flask, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    app.config["QUIZ_COACH_LOGO"] = str(logo)
    with app.app_context():
        current = site_settings.current()
        assert current.brand_name == "Praxis aus der Umgebung"
        assert current.cta_href == "https://example.org/termin"
        assert current.text("embed.frame_ancestors") == "'self' https://www.example.org"
        assert current.sender("Quiz <quiz@example.org>") == (
            "Praxis aus der Umgebung",
            "quiz@example.org",
        )
        assert current.logo is not None
        assert {change.changed_by for change in site_settings.history()} == {"env"}
    # Later the environment is not read again: the settings are the page's and the command's.
    app.config["QUIZ_COACH_NAME"] = "Anders"
    with app.app_context():
        site_settings.update({"brand.name": ""}, "test")
        assert site_settings.current().brand_name == DEFAULT_BRAND


@pytest.mark.app_config(QUIZ_COACH_NAME="Praxis\u202e", QUIZ_CTA_URL="http://example.org")
def test_the_first_start_leaves_out_what_it_cannot_use(app: Flask, tmp_path: Path) -> None:
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    app.config["QUIZ_COACH_LOGO"] = str(svg)
    with app.app_context():
        current = site_settings.current()
        assert current.brand_name == DEFAULT_BRAND
        assert current.cta_href == ""  # no URL and no contact address yet
        assert current.logo is None
        assert site_settings.history() == []
