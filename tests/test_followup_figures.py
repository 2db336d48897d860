"""The coach sees what the follow-up series does (issue 24, item 4): per follow-up email, sent,
clicked (each taker once, through the counted redirect) and unsubscribed after it.

The figures move with the real sender (an SMTP server of its own), the taker's clicks, the
unsubscribe link, retention and deletion; after every step the kept counters equal a rebuild
from the raw rows, the dashboard shows them, and `rebuild-rollups --check` finds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import update

from quiz import database
from quiz.coach import stats
from quiz.counters import followups, recount
from quiz.counters.models import FollowupCount
from quiz.database import begin_write
from quiz.extensions import db
from quiz.mail.outbox import claim_due, record_sent
from quiz.mail.sender import deliver_due
from quiz.models import utcnow
from quiz.site import settings as site_settings
from quiz.taker import clicks, rights
from quiz.taker.retention import purge
from quiz.web.coach.dashboard import clear_cache
from tests import coach_factories
from tests.factories import finished_response
from tests.mailserver import MailServer
from tests.test_html_valid import vnu_errors

# A weekday morning in Berlin, a day after any test runs: nothing here is in quiet hours.
T0 = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
Figures = dict[int, tuple[int, int, int]]


@pytest.fixture
def smtp_app(app: Flask, mail_server: MailServer) -> Flask:
    app.config.update(mail_server.smtp_config())
    with app.app_context():
        site_settings.update(
            {
                "followup.schedule": "1s 2s 3s",
                "followup.min_gap": "0s",
                "followup.stop_on_click": "false",
            },
            changed_by="test",
        )
    return app


def _confirmed(app: Flask, email: str, seed: int, campaign: str | None = None) -> int:
    taker = finished_response(
        app,
        email=email,
        consent_marketing=True,
        seed=seed,
        tracking={"utm_campaign": campaign} if campaign else None,
    )
    with app.app_context():
        assert rights.confirm_optin(taker.id, now=T0) == "confirmed"
    return taker.id


def _shown(app: Flask, filters: stats.Filters | None = None) -> Figures:
    with app.app_context():
        figures = stats.dashboard(filters or stats.Filters(), ["a"], [])
    return {row.number: (row.sent, row.clicked, row.unsubscribed) for row in figures.followups}


def _check(app: Flask, expected: Figures) -> None:
    """Kept counters == a rebuild from the raw rows, the dashboard shows `expected`, and the
    recount of `rebuild-rollups --check` finds every counter in step."""
    with app.app_context():
        kept = followups.snapshot()
        begin_write()
        followups.rebuild()
        rebuilt = followups.snapshot()
        db.session.rollback()
        assert recount(check=True).differing == 0
    assert kept == rebuilt
    assert _shown(app) == expected


def test_figures_follow_sending_clicks_unsubscribing_and_deletion(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    anna = _confirmed(smtp_app, "anna@example.com", 11, campaign="herbst")
    ben = _confirmed(smtp_app, "ben@example.com", 12)
    deliver_due(smtp_app, now=T0)  # the summaries and opt-in mails: not part of the series
    _check(smtp_app, {})

    deliver_due(smtp_app, now=T0 + timedelta(seconds=1))
    deliver_due(smtp_app, now=T0 + timedelta(seconds=2))
    _check(smtp_app, {1: (2, 0, 0), 2: (2, 0, 0)})

    # Anna clicks in the first email twice and once in the second: each email counts her once.
    with smtp_app.app_context():
        for placement in ("followup-1", "followup-1", "followup-2", "result"):
            assert clicks.record(anna, placement)
    _check(smtp_app, {1: (2, 1, 0), 2: (2, 1, 0)})

    # Ben unsubscribes after the second: his third is cancelled, Anna's goes out.
    with smtp_app.app_context():
        assert rights.unsubscribe(ben) == 1
    deliver_due(smtp_app, now=T0 + timedelta(minutes=1))
    assert len(mail_server.handler.messages) == 4 + 5
    _check(smtp_app, {1: (2, 1, 0), 2: (2, 1, 1), 3: (1, 0, 0)})

    # The campaign filter, as for every other figure.
    assert _shown(smtp_app, stats.Filters(campaign="herbst")) == {
        1: (1, 1, 0),
        2: (1, 1, 0),
        3: (1, 0, 0),
    }
    assert _shown(smtp_app, stats.Filters(campaign=stats.NO_CAMPAIGN)) == {
        1: (1, 0, 0),
        2: (1, 0, 1),
    }
    # The date range, by the day each happened (the emails went out today, real time).
    tomorrow = utcnow().date() + timedelta(days=2)
    assert _shown(smtp_app, stats.Filters(start=tomorrow)) == {}

    with smtp_app.app_context():
        assert rights.delete_data(anna)
    _check(smtp_app, {1: (1, 0, 0), 2: (1, 0, 1)})
    with smtp_app.app_context():
        assert rights.delete_data(ben)
    _check(smtp_app, {})


def test_retention_takes_back_the_emails_it_deletes(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    carla = _confirmed(smtp_app, "carla@example.com", 13)
    deliver_due(smtp_app, now=T0 + timedelta(seconds=1))
    with smtp_app.app_context():
        assert clicks.record(carla, "followup-1")
        assert rights.unsubscribe(carla) == 1
    _check(smtp_app, {1: (1, 1, 1)})

    # A year on, the emails of the anonymised response go, and what they counted with them; the
    # click stays, as the call to action's click counters keep it.
    with smtp_app.app_context():
        purge(optin_days=30, anonymise_days=365, now=utcnow() + timedelta(days=400))
    _check(smtp_app, {1: (0, 1, 0)})


def test_a_click_before_the_first_counted_moves_the_taker_to_its_day(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    dora = _confirmed(smtp_app, "dora@example.com", 14)
    deliver_due(smtp_app, now=T0 + timedelta(seconds=1))
    later, earlier = utcnow() + timedelta(days=3), utcnow() + timedelta(days=1)
    with smtp_app.app_context():
        assert clicks.record(dora, "followup-1", now=later)
        assert clicks.record(dora, "followup-1", now=earlier)
        kept = followups.snapshot()
    assert [key[0] for key, n in kept.items() if key[-1] == "clicked" and n] == [earlier.date()]
    _check(smtp_app, {1: (1, 1, 0)})


@pytest.mark.dialect_independent
def test_the_dashboard_shows_the_series_in_an_accessible_valid_table(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer, tmp_path: Path
) -> None:
    coach = smtp_app.test_client()
    coach_factories.create_test_coach(smtp_app)
    coach_factories.login(coach)
    empty = coach.get("/coach/").text
    assert "Folge-E-Mails" in empty and "noch keine Folge-E-Mail versendet" in empty

    emil = _confirmed(smtp_app, "emil@example.com", 15)
    _confirmed(smtp_app, "fritz@example.com", 16)
    deliver_due(smtp_app, now=T0 + timedelta(seconds=1))
    with smtp_app.app_context():
        assert clicks.record(emil, "followup-1")
    with smtp_app.app_context():
        clear_cache()
    page = coach.get("/coach/").text
    assert '<table class="scores" id="followup-table">' in page
    assert '<th scope="col">Versendet</th>' in page
    row = (
        '<tr><th scope="row">1. Folge-E-Mail</th><td>2</td><td>1 (50,0 %)</td>'
        "<td>0 (0,0 %)</td></tr>"
    )
    assert row in page
    (tmp_path / "dashboard.html").write_text(page, encoding="utf-8")
    assert vnu_errors(tmp_path) == []


def test_rebuild_rollups_check_finds_and_repairs_a_follow_up_counter_out_of_step(
    smtp_app: Flask, mail_server: MailServer, runner: FlaskCliRunner
) -> None:
    gerda = _confirmed(smtp_app, "gerda@example.com", 17)
    deliver_due(smtp_app, now=T0 + timedelta(seconds=1))
    with smtp_app.app_context():
        assert clicks.record(gerda, "followup-1")
        begin_write()
        db.session.execute(update(FollowupCount).values(count=FollowupCount.count + 5))
        db.session.commit()
    assert _shown(smtp_app) == {1: (6, 6, 0)}

    check = runner.invoke(args=["rebuild-rollups", "--check"])
    assert check.exit_code == 1 and "differing before the rebuild: 2" in check.output
    assert runner.invoke(args=["rebuild-rollups"]).exit_code == 0
    _check(smtp_app, {1: (1, 1, 0)})


def test_a_follow_up_recorded_sent_after_a_withdrawal_moves_it_to_this_email(
    smtp_app: Flask,
) -> None:
    """The sender held follow-up 1 while the taker unsubscribed (dated after the send): when it
    records the send, the withdrawal counts after this email, as the rebuild has it."""
    hanna = _confirmed(smtp_app, "hanna@example.com", 18)
    with smtp_app.app_context():
        for claim in claim_due(smtp_app, T0, 10):  # the summary and the opt-in mail go first
            with database.write():
                record_sent(claim)
        [claim] = claim_due(smtp_app, T0 + timedelta(seconds=1), 10)
        assert claim.kind == "followup"
        assert rights.unsubscribe(hanna, now=T0 + timedelta(days=1)) == 1
    _check(smtp_app, {})
    with smtp_app.app_context(), database.write():
        assert record_sent(claim)
    _check(smtp_app, {1: (1, 0, 1)})
