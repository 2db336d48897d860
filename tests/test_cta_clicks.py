"""The call to action's redirect, /weiter/<signed id>: clicks stored, counted and kept in step
with a rebuild; scanners not counted; forged or foreign ids 404; the taker's export and deletion."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select, update

from quiz import counters
from quiz.counters import cta_clicks as click_counters
from quiz.extensions import db
from quiz.links import CTA, DATA, make_cta_token, make_token, token_digest
from quiz.mail.sender import deliver_due
from quiz.models import CtaClick, OutboxMessage, utcnow
from quiz.site import settings as site_settings
from quiz.taker import retention, rights
from quiz.web.coach import dashboard as coach_dashboard
from quiz.web.security import redact
from tests.coach_factories import create_test_coach, login
from tests.factories import Finished, finished_response
from tests.mailserver import MailServer

TARGET = "https://termine.example/erstgespraech"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
TRACKING = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "herbst"}


def _setup(app: Flask, **settings: str) -> Finished:
    with app.app_context():
        site_settings.update({"cta.url": TARGET, **settings}, "test")
    return finished_response(app, tracking=TRACKING)


def _path(app: Flask, taker: Finished, placement: str = "result") -> str:
    token = make_cta_token(app.config, taker.id, taker.token, placement)
    return f"/weiter/{token}"


def _click_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(CtaClick.id))) or 0)


def _counted(app: Flask) -> dict[tuple[object, ...], int]:
    with app.app_context():
        return click_counters.snapshot()


def _assert_counters_equal_a_rebuild(app: Flask) -> None:
    with app.app_context():
        assert counters.recount(check=True).differing == 0


def test_a_click_is_stored_counted_once_per_click_and_redirected(app: Flask) -> None:
    taker = _setup(app)
    client = app.test_client()
    for expected in (1, 2):
        answer = client.get(_path(app, taker), headers={"User-Agent": BROWSER})
        assert answer.status_code == 303
        assert answer.headers["Location"] == TARGET
        assert "Set-Cookie" not in answer.headers
        assert (
            answer.headers["Cache-Control"] == "private, no-store"
        )  # every non-public route (issue 21, finding 7)
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert _click_count(app) == expected
    client.get(_path(app, taker, "pdf"), headers={"User-Agent": BROWSER})
    with app.app_context():
        bottleneck = rights.response_for_link(taker.id, token_digest(taker.token)).bottleneck  # type: ignore[union-attr]
    counted = _counted(app)
    assert {key[1:4] for key in counted} == {("newsletter", "email", "herbst")}
    assert {(key[7], key[8]): n for key, n in counted.items()} == {
        (bottleneck, "result"): 2,
        (bottleneck, "pdf"): 1,
    }
    assert next(iter(counted))[0] == utcnow().date()
    _assert_counters_equal_a_rebuild(app)


def test_scanners_get_the_redirect_but_are_not_counted(app: Flask) -> None:
    taker = _setup(app)
    client = app.test_client()
    email_link = _path(app, taker, "email")
    for method, agent in (
        ("HEAD", BROWSER),
        ("GET", ""),
        ("GET", "Barracuda Sentinel (EE)"),
        ("GET", "Mozilla/5.0 (compatible; Mimecast URL Protect)"),
        ("GET", "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36"),
        ("GET", "python-requests/2.31"),
    ):
        answer = client.open(email_link, method=method, headers={"User-Agent": agent})
        assert answer.status_code == 303, agent
        assert answer.headers["Location"] == TARGET
    assert _click_count(app) == 0
    # The summary was just delivered: a gateway opens its links as it arrives.
    server = MailServer().start()
    try:
        app.config.update(server.smtp_config())
        assert deliver_due(app).sent == 1
    finally:
        server.stop()
    client.get(email_link, headers={"User-Agent": BROWSER})
    assert _click_count(app) == 0
    # ... but the result page's link in that moment is the taker's own click.
    client.get(_path(app, taker, "result"), headers={"User-Agent": BROWSER})
    assert _click_count(app) == 1
    with app.app_context():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.response_id == taker.id)
            .values(sent_at=utcnow() - timedelta(minutes=2))
        )
        db.session.commit()
    client.get(email_link, headers={"User-Agent": BROWSER})
    assert _click_count(app) == 2
    _assert_counters_equal_a_rebuild(app)


@pytest.mark.dialect_independent
def test_forged_foreign_or_targetless_links_are_404(app: Flask) -> None:
    taker = _setup(app)
    other = finished_response(app, seed=12)
    client = app.test_client()
    good = make_cta_token(app.config, taker.id, taker.token, "result")
    forged = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        # Another purpose's link for the same response (the data page's).
        make_token(app.config, DATA, taker.id, taker.token),
        # Signed with another site's key.
        URLSafeSerializer("another-secret", salt=CTA).dumps(
            [taker.id, token_digest(taker.token), "result"]
        ),
        # Genuine signature, but the fingerprint of another taker's token.
        make_cta_token(app.config, taker.id, other.token, "result"),
        # A placement that is none.
        URLSafeSerializer(app.config["SECRET_KEY"], salt=CTA).dumps(
            [taker.id, token_digest(taker.token), "https://evil.example"]
        ),
        "",
    ]
    for token in forged:
        answer = client.get(f"/weiter/{token}", headers={"User-Agent": BROWSER})
        assert answer.status_code == 404, token
        assert "Location" not in answer.headers
    assert client.get(f"/weiter/{good}?next=https://evil.example").headers["Location"] == TARGET
    # Without a target the default is a reply to the coach's address...
    with app.app_context():
        site_settings.update({"cta.url": "", "contact.email": "coach@praxis.example"}, "test")
    assert client.get(f"/weiter/{good}").headers["Location"] == "mailto:coach@praxis.example"
    # ... and without that either, no link leads anywhere.
    with app.app_context():
        site_settings.update({"contact.email": ""}, "test")
    assert client.get(f"/weiter/{good}").status_code == 404
    # A deleted taker's links are dead.
    with app.app_context():
        site_settings.update({"cta.url": TARGET}, "test")
        rights.delete_data(taker.id)
    assert client.get(f"/weiter/{good}").status_code == 404
    assert _click_count(app) == 0


def test_export_and_deletion_include_the_clicks(app: Flask) -> None:
    taker = _setup(app)
    keep = finished_response(app, seed=12, tracking=TRACKING)
    client = app.test_client()
    client.get(_path(app, taker, "result"), headers={"User-Agent": BROWSER})
    client.get(_path(app, taker, "pdf"), headers={"User-Agent": BROWSER})
    client.get(_path(app, keep, "result"), headers={"User-Agent": BROWSER})
    data = client.get(_data_path(app, taker)).get_json()
    assert [click["placement"] for click in data["cta_clicks"]] == ["result", "pdf"]
    assert all(click["clicked_at"] for click in data["cta_clicks"])
    with app.app_context():
        rights.delete_data(taker.id)
    assert _click_count(app) == 1
    assert sum(_counted(app).values()) == 1
    _assert_counters_equal_a_rebuild(app)


def _data_path(app: Flask, taker: Finished) -> str:
    return f"/daten/{make_token(app.config, DATA, taker.id, taker.token)}/export.json"


def test_the_dashboard_shows_clicks_and_click_rate_per_placement(app: Flask) -> None:
    taker = _setup(app)
    other = finished_response(app, seed=12, tracking={"utm_campaign": "fruehling"})
    client = app.test_client()
    for placement in ("result", "result", "email"):
        client.get(_path(app, taker, placement), headers={"User-Agent": BROWSER})
    client.get(_path(app, other, "pdf"), headers={"User-Agent": BROWSER})
    create_test_coach(app)
    coach = app.test_client()
    login(coach)
    coach_dashboard.clear_cache()
    rows = _cta_rows(coach.get("/coach/").text)
    assert rows == {
        "Ergebnisseite": ("2", "100,0 %"),
        "E-Mail mit dem Ergebnis": ("1", "50,0 %"),
        "PDF-Bericht": ("1", "50,0 %"),
        "Zusammen": ("4", "200,0 %"),
    }
    coach_dashboard.clear_cache()
    page = coach.get("/coach/?campaign=herbst").text
    assert _cta_rows(page)["Zusammen"] == ("3", "300,0 %")
    assert 'id="kpi-cta">300,0 %<' in page
    lead = coach.get(f"/coach/leads/{taker.id}").text
    shown = lead[lead.index('id="lead-cta"') : lead.index("</dd>", lead.index('id="lead-cta"'))]
    assert shown.count("Ergebnisseite, ") == 2 and shown.count("E-Mail mit dem Ergebnis, ") == 1
    coach_dashboard.clear_cache()
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    assert _cta_rows(coach.get(f"/coach/?from={tomorrow}").text)["Zusammen"][0] == "0"


def _cta_rows(page: str) -> dict[str, tuple[str, str]]:
    table = page[
        page.index('id="cta-clicks"') : page.index("</table>", page.index('id="cta-clicks"'))
    ]
    return {
        name: (count, rate)
        for name, count, rate in re.findall(
            r'<th scope="row">([^<]+)</th><td>([^<]+)</td><td>([^<]+)</td>', table
        )
    }


@pytest.mark.dialect_independent
def test_the_signed_id_stays_out_of_the_logs(app: Flask) -> None:
    token = make_cta_token(app.config, 7, "a-result-token", "email")
    line = redact(f'"GET /weiter/{token} HTTP/1.1" 303 -')
    assert token not in line and "/weiter/…" in line


def test_anonymising_and_the_demo_data_keep_the_counters_equal_to_a_rebuild(
    app: Flask, runner: FlaskCliRunner
) -> None:
    taker = _setup(app)
    client = app.test_client()
    client.get(_path(app, taker, "result"), headers={"User-Agent": BROWSER})
    assert runner.invoke(args=["seed-demo", "20", "--seed", "3"]).exit_code == 0
    with app.app_context():
        retention.purge(optin_days=1, anonymise_days=1, now=utcnow() + timedelta(days=400))
    _assert_counters_equal_a_rebuild(app)
    assert sum(_counted(app).values()) == 1  # the anonymised response's click stays counted
    assert runner.invoke(args=["seed-demo", "--remove"]).exit_code == 0
    _assert_counters_equal_a_rebuild(app)
    check = runner.invoke(args=["rebuild-rollups", "--check"])
    assert check.exit_code == 0 and "differing before the rebuild: 0" in check.output
