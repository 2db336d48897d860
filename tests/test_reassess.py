"""Re-assessment (issue 24, item 2): the invitation's signed link starts a new quiz linked to the
earlier one, with its address and consents; the norms and item statistics leave it out, the
dashboard counts it apart, and deleting the taker's data removes the whole chain."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from itsdangerous import TimestampSigner
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from quiz.app_state import get_content
from quiz.counters import item_stats_read, item_stats_rebuild
from quiz.counters.models import CoachRollup
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.links import REASSESS, make_token
from quiz.mail.sender import deliver_due
from quiz.models import Consent, OutboxMessage, Response, utcnow
from quiz.site import settings as site_settings
from quiz.taker import rights
from quiz.web.coach import dashboard as coach_dashboard
from tests.coach_factories import assert_rollups_equal_a_rebuild, create_test_coach, login
from tests.factories import Finished, finished_response
from tests.mailserver import MailServer
from tests.quizflow import answer_all_pages, csrf_token, lead_step
from tests.test_html_valid import vnu_errors
from tests.test_report_pdf import _download, _pdf_text


def invitation(app: Flask, earlier: Finished) -> str:
    """The path of the invitation's link for this earlier response."""
    with app.app_context():
        token = make_token(app.config, REASSESS, earlier.id, earlier.token)
    return f"/wieder/{token}"


def confirmed_taker(app: Flask, seed: int = 11) -> Finished:
    earlier = finished_response(app, first_name="Jana", consent_marketing=True, seed=seed)
    with app.app_context():
        assert rights.confirm_optin(earlier.id) == "confirmed"
    return earlier


def reassess_through_link(client: FlaskClient, app: Flask, earlier: Finished, seed: int = 5) -> str:
    """Take the quiz again through the invitation's link; the new result's path."""
    path = invitation(app, earlier)
    page = client.get(path)
    assert page.status_code == 200 and "Quiz erneut starten" in page.text
    started = client.post(path, data={"csrf_token": csrf_token(page)})
    assert started.status_code == 302 and started.location.endswith("/quiz/1")
    answer_all_pages(client, app, sample_answers(get_content(app), "random", seed=seed))
    finished = lead_step(client, app)
    assert finished.status_code == 302, finished.text[:500]
    return finished.location


def test_the_link_starts_a_linked_quiz_with_the_address_and_consents_carried_over(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    earlier = confirmed_taker(app)
    path = invitation(app, earlier)
    with app.app_context():
        responses_before = db.session.scalar(select(func.count(Response.id)))
    # A GET (a mail scanner) starts nothing.
    assert client.get(path).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == responses_before
    # The last step asks for nothing: the address comes with the link.
    result_path = reassess_through_link(client, app, earlier)
    with app.app_context():
        new = db.session.scalars(select(Response).order_by(Response.id.desc())).first()
        assert new is not None and new.status == "finished" and new.id != earlier.id
        assert result_path == f"/r/{new.result_token}"
        assert new.previous_response_id == earlier.id
        assert (new.email, new.first_name) == ("kundin@example.com", "Jana")
        kinds = {
            (c.kind, c.confirmed_at is not None)
            for c in db.session.scalars(select(Consent).where(Consent.response_id == new.id))
        }
        assert kinds == {("data", False), ("marketing", True)}
        mails = list(
            db.session.scalars(
                select(OutboxMessage.kind).where(OutboxMessage.response_id == new.id)
            )
        )
        assert mails == ["result"]  # the summary, no second opt-in
        # Left out of the item statistics and the norms; counted apart on the dashboard.
        assert item_stats_read.read(new.content_version, demo="include").finished == 1
        assert item_stats_rebuild.check() == []
        reassessed = db.session.scalar(
            select(func.sum(CoachRollup.count)).where(
                CoachRollup.metric == "reassess", CoachRollup.period == "day"
            )
        )
        assert reassessed == 1
    assert_rollups_equal_a_rebuild(app)
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0


@pytest.mark.dialect_independent
def test_an_expired_tampered_or_orphaned_link_gets_a_clear_page(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = confirmed_taker(app)
    assert client.get(invitation(app, earlier) + "x").status_code == 400
    with app.app_context():
        site_settings.update({"followup.link_days": "1"}, changed_by="test")
    two_days_ago = int(time.time()) - 2 * 24 * 3600
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: two_days_ago)
        old = invitation(app, earlier)
    expired = client.get(old)
    assert expired.status_code == 410 and "abgelaufen" in expired.text
    assert client.post(old, data={"csrf_token": csrf_token(client.get("/"))}).status_code == 410
    with app.app_context():
        rights.delete_data(earlier.id)
    assert client.get(invitation(app, earlier)).status_code == 404
    assert client.get(old).status_code == 404  # expired, and gone too


@pytest.mark.parametrize("delete_from", ["earlier", "later"])
def test_deleting_either_quiz_removes_the_whole_chain(
    app: Flask, client: FlaskClient, delete_from: str
) -> None:
    earlier = confirmed_taker(app)
    reassess_through_link(client, app, earlier)
    with app.app_context():
        later_id = db.session.scalar(
            select(Response.id).where(Response.previous_response_id == earlier.id)
        )
        assert later_id is not None
        export = rights.export_data(get_content(), db.session.get(Response, earlier.id))
        assert [link["this_quiz"] for link in export["reassessment_chain"]] == [True, False]
        assert rights.delete_data(earlier.id if delete_from == "earlier" else later_id)
        assert db.session.scalar(select(func.count(Response.id))) == 0
        assert db.session.scalar(select(func.count(Consent.id))) == 0
        assert item_stats_rebuild.check() == []
    assert_rollups_equal_a_rebuild(app)


def test_the_new_result_page_shows_before_and_after_with_a_chart_of_both(
    app: Flask, client: FlaskClient
) -> None:
    earlier = confirmed_taker(app)
    result_path = reassess_through_link(client, app, earlier)
    page = client.get(result_path)
    assert page.status_code == 200
    assert "Vorher und nachher" in page.text and "Veränderung" in page.text
    with app.app_context():
        before = db.session.get(Response, earlier.id)
        after = db.session.scalar(
            select(Response).where(Response.previous_response_id == earlier.id)
        )
        assert before is not None and after is not None
        content = get_content()
        for dimension in content.dimensions:
            old, new = before.scores()[dimension.id], after.scores()[dimension.id]
            change = new - old
            shown = f"+{change}" if change > 0 else (f"−{-change}" if change < 0 else "±0")
            row = (
                f'<th scope="row">{escape(dimension.name)}</th>\n        <td>{old}</td>\n'
                f"        <td>{new}</td>\n        <td>{shown}</td>"
            )
            assert row in page.text
        names = {d.id: d.name for d in content.dimensions}
        assert str(escape(names[after.bottleneck])) in page.text
        assert str(escape(names[before.bottleneck])) in page.text
    chart = client.get(f"{result_path}/vorher-nachher.png")
    assert chart.status_code == 200 and chart.data.startswith(b"\x89PNG")
    # A first quiz has no comparison and no such chart.
    assert "Vorher und nachher" not in client.get(earlier.path).text
    assert client.get(f"{earlier.path}/vorher-nachher.png").status_code == 404


def _signed(change: int) -> str:
    return f"+{change}" if change > 0 else (f"−{-change}" if change < 0 else "±0")


def _before_after(app: Flask, earlier_id: int) -> list[tuple[str, int, int]]:
    """(name, before, after) of every dimension, from the stored scores."""
    with app.app_context():
        before = db.session.get(Response, earlier_id)
        after = db.session.scalar(
            select(Response).where(Response.previous_response_id == earlier_id)
        )
        assert before is not None and after is not None
        return [
            (d.name, before.scores()[d.id], after.scores()[d.id]) for d in get_content().dimensions
        ]


def _zone_at_midday(moment: datetime) -> str:
    """A fixed-offset zone where `moment` falls around midday: the invitation keeps the series'
    quiet hours, and these tests send it an hour after the real now."""
    offset = max(-12, min(14, 12 - moment.astimezone(UTC).hour))
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def test_the_emailed_invitation_leads_to_before_and_after_on_page_email_and_pdf(
    app: Flask, client: FlaskClient, mail_server: MailServer, runner: FlaskCliRunner
) -> None:
    app.config.update(mail_server.smtp_config())
    app.config["QUIZ_TIMEZONE"] = _zone_at_midday(utcnow() + timedelta(hours=1))
    with app.app_context():
        site_settings.update(
            {"followup.reassess_after": "1h", "followup.enabled": "false"}, changed_by="test"
        )
    earlier = confirmed_taker(app)
    with app.app_context():
        [invite] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reassess"))
        confirmed = db.session.scalar(
            select(Consent.confirmed_at).where(
                Consent.response_id == earlier.id, Consent.kind == "marketing"
            )
        )
        assert confirmed is not None and invite.next_attempt_at == confirmed + timedelta(hours=1)
    listed = runner.invoke(args=["mail", "list", "--kind", "reassess", "--json"])
    assert [row["kind"] for row in json.loads(listed.output)] == ["reassess"]
    deliver_due(app)
    assert len(mail_server.wait_for(2)) == 2  # the summary and the opt-in, not yet the invitation
    deliver_due(app, now=utcnow() + timedelta(hours=1, seconds=1))
    invitation_mail = mail_server.wait_for(3)[2]
    assert "Quiz erneut machen" in str(invitation_mail)
    text = _parts(invitation_mail)["text/plain"]
    [link] = re.findall(r"https?://\S+(/wieder/\S+)", text)
    result_path = reassess_through_link(client, app, earlier, link)
    # The page.
    assert "Vorher und nachher" in client.get(result_path).text
    # The email.
    deliver_due(app)
    summary = mail_server.wait_for(4)[3]
    assert summary["To"] == "Jana <kundin@example.com>"
    parts = _parts(summary)
    assert (
        "VORHER UND NACHHER" in parts["text/plain"] and "Vorher und nachher" in parts["text/html"]
    )
    images = [p.get_filename() for p in summary.walk() if p.get_content_type() == "image/png"]
    assert "vorher-nachher.png" in images
    rows = _before_after(app, earlier.id)
    for name, old, new in rows:
        assert f"- {name}: vorher {old}, heute {new} ({_signed(new - old)})" in parts["text/plain"]
    # The PDF.
    report = _download_pdf(client, app, result_path.removeprefix("/r/"))
    assert "Vorher und nachher" in report
    for name, old, new in rows:
        assert f"{name} {old} {new} {_signed(new - old)}" in report


def _parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()  # type: ignore[attr-defined]
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    }


def _series(app: Flask) -> list[tuple[str, str, datetime]]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind.in_(("followup", "reassess")))
            .order_by(OutboxMessage.id)
        )
        return [(row.kind, row.status, row.next_attempt_at) for row in rows]


def test_the_invitation_keeps_the_series_quiet_hours_and_gap(
    app: Flask, mail_server: MailServer
) -> None:
    """Due at 21:30 in Berlin, the invitation waits until 7:00; due with a follow-up, it waits
    the gap after it."""
    berlin = ZoneInfo("Europe/Berlin")
    app.config.update(mail_server.smtp_config())
    with app.app_context():
        site_settings.update({"followup.reassess_after": "1h"}, changed_by="test")
        site_settings.update({"followup.enabled": "false"}, changed_by="test")
    evening = datetime(2026, 12, 8, 21, 30, tzinfo=berlin)
    late = finished_response(app, consent_marketing=True, email="spaet@example.com")
    with app.app_context():
        assert rights.confirm_optin(late.id, now=evening - timedelta(hours=1)) == "confirmed"
    deliver_due(app, now=evening + timedelta(seconds=1))
    [(_, status, due)] = _series(app)
    assert (status, due) == ("queued", datetime(2026, 12, 9, 7, 0, tzinfo=berlin))

    # With the follow-ups on, one due at the same time goes first; the invitation waits a day.
    with app.app_context():
        site_settings.update(
            {"followup.enabled": "true", "followup.schedule": "1h", "followup.min_gap": "1d"},
            changed_by="test",
        )
    noon = datetime(2026, 12, 9, 12, 0, tzinfo=berlin)
    both = finished_response(app, consent_marketing=True, email="beide@example.com", seed=4)
    with app.app_context():
        assert rights.confirm_optin(both.id, now=noon - timedelta(hours=1)) == "confirmed"
    deliver_due(app, now=noon + timedelta(seconds=1))
    series = _series(app)[1:]
    assert [(kind, status) for kind, status, _ in series] == [
        ("followup", "sent"),
        ("reassess", "queued"),
    ]
    assert series[1][2] >= noon + timedelta(days=1)


@pytest.mark.dialect_independent
def test_unsubscribing_cancels_the_invitation_and_an_empty_setting_queues_none(
    app: Flask,
) -> None:
    earlier = confirmed_taker(app)
    with app.app_context():
        rights.unsubscribe(earlier.id)
        kinds = db.session.execute(
            select(OutboxMessage.status).where(OutboxMessage.kind == "reassess")
        ).scalars()
        assert list(kinds) == ["cancelled"]
        site_settings.update({"followup.reassess_after": ""}, changed_by="test")
        assert site_settings.current().text("followup.reassess_after") == ""
    confirmed_taker(app, seed=3)
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "reassess")
            )
            == 1
        )


def _download_pdf(client: FlaskClient, app: Flask, token: str) -> str:
    answer = _download(client, app, token)
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    return _pdf_text(answer.data)


def test_the_lead_page_dashboard_and_privacy_notice_show_the_re_assessment(
    app: Flask, client: FlaskClient
) -> None:
    earlier = confirmed_taker(app)
    reassess_through_link(client, app, earlier)
    rows = _before_after(app, earlier.id)
    notice = client.get("/datenschutz").text
    assert "Erneute Einschätzung (vorher und nachher)" in notice
    assert "8 Wochen danach" in notice and "Art. 6 Abs. 1 lit. a DSGVO" in notice
    create_test_coach(app)
    coach = app.test_client()
    login(coach)
    page = coach.get(f"/coach/leads/{earlier.id}").text
    assert "Erneute Einschätzungen" in page
    # The leads list marks the re-assessment, not the first quiz.
    listing = coach.get("/coach/leads").text
    marked = re.findall(
        r'/coach/leads/(\d+)">[^<]*</a>(?: <span class="tag">Erneut</span>)?', listing
    )
    assert len(marked) == 2
    again = re.findall(r'/coach/leads/(\d+)">[^<]*</a> <span class="tag">Erneut</span>', listing)
    assert again == [str(max(int(lead) for lead in marked))]
    # So does the CSV export, newest first: the re-assessment, then the first quiz.
    export = coach.get("/coach/leads.csv").get_data().decode("utf-8-sig")
    header, *leads = csv.reader(io.StringIO(export), delimiter=";")
    column = header.index("Erneute Einschätzung")
    assert [lead[column] for lead in leads] == ["ja", ""]
    for name, old, new in rows:
        shown = (
            f'<th scope="row">{escape(name)}</th><td>{old}</td><td>{new}</td>'
            f"<td>{_signed(new - old)}</td>"
        )
        assert shown in page
    dashboard = coach.get("/coach/").text
    assert re.search(r'id="kpi-reassessments">1<', dashboard)
    # The average change per dimension among re-takers, from the counters (one re-taker here).
    ids = [d.id for d in get_content(app).dimensions]
    for dimension, (_, old, new) in zip(ids, rows, strict=True):
        shown = f"{new - old:+.1f}".replace(".", ",")
        assert f'<td id="change-{dimension}">{shown} Punkte (n = 1)</td>' in dashboard
    assert_rollups_equal_a_rebuild(app)
    # A second re-taker of another earlier quiz: the average is over both.
    other = confirmed_taker(app, seed=3)
    reassess_through_link(app.test_client(), app, other, seed=8)
    coach_dashboard.clear_cache()  # the figures are cached for a minute
    both = [
        r1[2] - r1[1] + r2[2] - r2[1]
        for r1, r2 in zip(rows, _before_after(app, other.id), strict=True)
    ]
    dashboard = coach.get("/coach/").text
    for dimension, total in zip(ids, both, strict=True):
        shown = f"{total / 2:+.1f}".replace(".", ",")
        assert f'<td id="change-{dimension}">{shown} Punkte (n = 2)</td>' in dashboard
    assert_rollups_equal_a_rebuild(app)
    # Deleting a re-taker's data takes its change back.
    with app.app_context():
        assert rights.delete_data(other.id)
    coach_dashboard.clear_cache()
    dashboard = coach.get("/coach/").text
    for dimension, (_, old, new) in zip(ids, rows, strict=True):
        shown = f"{new - old:+.1f}".replace(".", ",")
        assert f'<td id="change-{dimension}">{shown} Punkte (n = 1)</td>' in dashboard
    assert_rollups_equal_a_rebuild(app)


def _again_from_result_page(
    client: FlaskClient, app: Flask, earlier: Finished, email: str
) -> Response:
    """Start again from the earlier result page and finish with this address; the new row."""
    offer = client.get(earlier.path)
    assert f'href="{earlier.path}/wieder"' in offer.text
    page = client.get(f"{earlier.path}/wieder")
    assert page.status_code == 200 and "dieselbe Adresse" in page.text
    started = client.post(f"{earlier.path}/wieder", data={"csrf_token": csrf_token(page)})
    assert started.status_code == 302 and started.location.endswith("/quiz/1")
    answer_all_pages(client, app, sample_answers(get_content(app), "random", seed=5))
    # The last step asks for the address and the consents as on a first quiz.
    form = client.get(f"/quiz/{len(get_content(app).pages) + 1}")
    assert 'name="email"' in form.text and 'name="consent_marketing"' in form.text
    done = lead_step(client, app, email=email, consent_data="y", consent_marketing="y")
    assert done.status_code == 302
    with app.app_context():
        new = db.session.scalar(
            select(Response)
            .order_by(Response.id.desc())
            .limit(1)
            .options(undefer(Response.previous_response_id))
        )
        assert new is not None and done.location == f"/r/{new.result_token}"
        db.session.expunge(new)
        return new


@pytest.mark.dialect_independent
def test_from_the_result_page_the_address_is_asked_again_and_confirmed_like_a_first_quiz(
    app: Flask, client: FlaskClient
) -> None:
    earlier = confirmed_taker(app)
    before = client.get("/r/" + earlier.token).text
    assert "Vorher und nachher" not in before
    # The same address (in other case): linked, compared, and a fresh opt-in to confirm.
    new = _again_from_result_page(client, app, earlier, "Kundin@Example.com")
    assert new.previous_response_id == earlier.id
    assert "Vorher und nachher" in client.get(f"/r/{new.result_token}").text
    with app.app_context():
        kinds = sorted(
            db.session.scalars(
                select(OutboxMessage.kind).where(OutboxMessage.response_id == new.id)
            )
        )
        assert kinds == ["optin", "result"]
        states = db.session.execute(
            select(Consent.kind, Consent.confirmed_at).where(Consent.response_id == new.id)
        ).all()
        assert sorted(kind for kind, _ in states) == ["data", "marketing"]
        assert all(confirmed is None for _, confirmed in states)
    # Another address: a first quiz of its own, no comparison with someone else's result.
    other = _again_from_result_page(app.test_client(), app, earlier, "jemand@example.org")
    assert other.previous_response_id is None
    assert "Vorher und nachher" not in client.get(f"/r/{other.result_token}").text
    with app.app_context():
        assert item_stats_rebuild.check() == []
    assert_rollups_equal_a_rebuild(app)


@pytest.mark.dialect_independent
def test_the_settings_check_the_invitation_time_and_the_link_days(
    app: Flask, runner: FlaskCliRunner
) -> None:
    def setting(key: str) -> str:
        with app.app_context():
            return site_settings.current().text(key)

    assert (setting("followup.reassess_after"), setting("followup.link_days")) == ("8w", "30")
    assert runner.invoke(args=["settings", "set", "followup.reassess_after", "6w"]).exit_code == 0
    assert runner.invoke(args=["settings", "set", "followup.reassess_after", "bald"]).exit_code == 1
    # Empty switches the invitation off instead of restoring the default.
    assert runner.invoke(args=["settings", "set", "followup.reassess_after", ""]).exit_code == 0
    assert setting("followup.reassess_after") == ""
    for bad in ("0", "366", "3.5", "zehn"):
        assert runner.invoke(args=["settings", "set", "followup.link_days", bad]).exit_code == 1
    assert runner.invoke(args=["settings", "set", "followup.link_days", "14"]).exit_code == 0
    assert setting("followup.link_days") == "14"
    # Here an empty value restores the default, as for every other setting.
    assert runner.invoke(args=["settings", "set", "followup.link_days", ""]).exit_code == 0
    assert setting("followup.link_days") == "30"


@pytest.mark.dialect_independent
def test_the_re_assessment_pages_are_valid_html(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    earlier = confirmed_taker(app)
    path = invitation(app, earlier)
    pages = {
        "invitation": client.get(path).text,
        "again": client.get(f"{earlier.path}/wieder").text,
    }
    client.post(path, data={"csrf_token": csrf_token(pages["invitation"])})
    answer_all_pages(client, app, sample_answers(get_content(app), "random", seed=5))
    lead_path = f"/quiz/{len(get_content(app).pages) + 1}"
    pages["lead"] = client.get(lead_path).text
    assert "Vorher-nachher-Vergleich" in pages["lead"]
    result = lead_step(client, app)
    pages["result"] = client.get(result.location).text
    create_test_coach(app)
    coach = app.test_client()
    login(coach)
    pages["coach-lead"] = coach.get(f"/coach/leads/{earlier.id}").text
    pages["coach-dashboard"] = coach.get("/coach/").text
    for name, html in pages.items():
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
    assert vnu_errors(tmp_path) == []
