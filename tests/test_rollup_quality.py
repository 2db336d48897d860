"""Every dashboard figure can leave straight-liners and speeders out (issue 14, item 3).

A response's dashboard counters (`coach_rollups`) are kept in its quality class, judged at finish:
its start and funnel steps move there with it, its emails and consents are counted there as they
change, and deleting it takes them back from there. The maintained table always equals a rebuild
from the raw rows, on both databases and after migration 0009 in both directions.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, update

from quiz.app_state import get_content
from quiz.coach import stats
from quiz.counters import funnel_rebuild, item_stats_read, rollup_rebuild
from quiz.counters.models import SPEEDER, STRAIGHT_LINING, CoachRollup
from quiz.database import begin_write
from quiz.domain.content import Content
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.mail.sender import deliver_due
from quiz.models import Response
from quiz.taker import rights
from quiz.web.coach import dashboard as coach_view
from tests.coach_factories import (
    add_response,
    assert_rollups_equal_a_rebuild,
    create_test_coach,
    login,
)
from tests.factories import finished_response
from tests.mailserver import MailServer

TEN_MINUTES = ("2026-03-02 10:00:00", "2026-03-02 10:10:00")


def straight_lining(content: Content) -> dict[str, str]:
    """Answers with the same option on every statement (and varied scenarios)."""
    answers = sample_answers(content, "random", seed=5)
    statements = [q for q in content.questions if q.type == "likert"]
    same = content.choices(statements[0].id)[1].id
    assert all(same in {c.id for c in content.choices(q.id)} for q in statements)
    return answers | {q.id: same for q in statements}


def varied(content: Content) -> dict[str, str]:
    """Answers with at least two different options among the statements."""
    answers = sample_answers(content, "random", seed=11)
    statements = [q.id for q in content.questions if q.type == "likert"]
    assert len({answers[q] for q in statements}) > 1
    return answers


def finish(
    app: Flask, answers: dict[str, str], email: str, consent_data: str, consent_marketing: str = ""
) -> int:
    """A finished quiz (through the writers); the response id."""
    return finished_response(
        app,
        answers,
        email=email,
        consent_data=consent_data == "y",
        consent_marketing=consent_marketing == "y",
    ).id


def quality_of(app: Flask, response_id: int) -> int | None:
    with app.app_context():
        return db.session.scalar(
            select(Response.__table__.c.quality_flags).where(Response.__table__.c.id == response_id)
        )


def figures(app: Flask, quality: stats.QualityFilter) -> stats.Dashboard:
    content = get_content(app)
    labels = [page.title for page in content.pages] + ["Kontakt"]
    with app.app_context():
        return stats.dashboard(
            stats.Filters(quality=quality), labels, [d.id for d in content.dimensions]
        )


def takers_of_every_class(app: Flask) -> dict[str, int]:
    """A clean and a straight-lining taker through the finishing writer, then 30 finishes of ten
    minutes each, then a speeder (a finish straight after its start takes well under a second)."""
    content = get_content(app)
    ids = {
        "clean": finish(app, varied(content), email="a@example.com", consent_data="y"),
        "lined": finish(
            app,
            straight_lining(content),
            email="b@example.com",
            consent_data="y",
            consent_marketing="y",
        ),
    }
    with app.app_context():
        for _ in range(30):
            add_response(started=TEN_MINUTES[0], finished=TEN_MINUTES[1], version=content.version)
    ids["fast"] = finish(app, varied(content), email="c@example.com", consent_data="y")
    return ids


def test_each_response_is_counted_in_its_class_and_every_figure_can_leave_them_out(
    app: Flask, mail_server: MailServer
) -> None:
    app.config.update(mail_server.smtp_config())
    ids = takers_of_every_class(app)
    assert quality_of(app, ids["clean"]) == 0
    assert quality_of(app, ids["lined"]) == STRAIGHT_LINING
    assert quality_of(app, ids["fast"]) == SPEEDER
    # Mail goes out and the marketing consent is confirmed: counted in the response's class.
    assert deliver_due(app).sent == 4  # three results and one confirmation request
    with app.app_context():
        assert rights.confirm_optin(ids["lined"]) == "confirmed"
    counts = assert_rollups_equal_a_rebuild(app)

    by_class: dict[tuple[str, int], int] = {}
    for key, (count, _total) in counts.items():
        by_class[(key[4], key[7])] = by_class.get((key[4], key[7]), 0) + count
    # 30 + 1 clean finishes; the flagged ones took their start along.
    assert by_class[("finish", 0)] == 31 and by_class[("start", 0)] == 31
    assert by_class[("finish", STRAIGHT_LINING)] == 1 and by_class[("start", STRAIGHT_LINING)] == 1
    assert by_class[("finish", SPEEDER)] == 1 and by_class[("start", SPEEDER)] == 1
    assert by_class[("marketing", STRAIGHT_LINING)] == 1 and ("marketing", 0) not in by_class
    assert by_class[("email", STRAIGHT_LINING)] == 2 and by_class[("email", SPEEDER)] == 1

    everyone, clean, flagged = (figures(app, q) for q in ("all", "clean", "flagged"))
    assert (everyone.starts, clean.starts, flagged.starts) == (33, 31, 2)
    assert (everyone.completions, clean.completions, flagged.completions) == (33, 31, 2)
    assert flagged.completion_rate == 1.0 and flagged.funnel[0].count == 2
    assert (everyone.marketing_confirmed, clean.marketing_confirmed) == (1, 0)
    assert flagged.marketing_confirmed == 1
    assert everyone.email_states["sent"] == 4
    assert (clean.email_states["sent"], flagged.email_states["sent"]) == (1, 3)
    for dimension in range(len(everyone.dimensions)):
        all_d, clean_d, flagged_d = (f.dimensions[dimension] for f in (everyone, clean, flagged))
        assert all_d.count == clean_d.count + flagged_d.count == 33
        assert all(
            a == c + f
            for a, c, f in zip(all_d.buckets, clean_d.buckets, flagged_d.buckets, strict=True)
        )
    # The speeder finished in seconds: only they are in the flagged median's first bucket.
    assert flagged.median_seconds is not None and flagged.median_seconds < 600
    assert clean.median_seconds is not None and clean.median_seconds > 300


def test_a_flagged_taker_is_taken_back_from_their_class(app: Flask) -> None:
    content = get_content(app)
    lined = finish(app, straight_lining(content), email="b@example.com", consent_data="y")
    kept = finish(app, varied(content), email="a@example.com", consent_data="y")
    with app.app_context():
        assert rights.delete_data(lined)
    counts = assert_rollups_equal_a_rebuild(app)
    assert not any(key[7] for key, (count, _total) in counts.items() if count)
    assert sum(c for key, (c, _) in counts.items() if key[4] == "finish") == 1
    assert quality_of(app, kept) == 0


def test_dashboard_leads_and_export_follow_the_quality_filter(
    app: Flask, client: FlaskClient
) -> None:
    content = get_content(app)
    finish(app, straight_lining(content), email="gleich@example.com", consent_data="y")
    finish(app, varied(content), email="bunt@example.com", consent_data="y")
    create_test_coach(app)
    login(client)
    coach_view.clear_cache()
    page = client.get("/coach/?quality=clean").get_data(as_text=True)
    assert '<option value="clean" selected>' in page
    assert "quality=clean" in page  # the charts and the export keep the filter
    leads = client.get("/coach/leads?quality=flagged").get_data(as_text=True)
    assert "gleich@example.com" in leads and "bunt@example.com" not in leads
    leads = client.get("/coach/leads?quality=clean").get_data(as_text=True)
    assert "bunt@example.com" in leads and "gleich@example.com" not in leads
    export = client.get("/coach/leads.csv?quality=flagged").get_data(as_text=True)
    assert "gleich@example.com" in export and "bunt@example.com" not in export
    assert client.get("/coach/leads.csv?quality=schlecht").status_code == 400
    wrong = client.get("/coach/?quality=schlecht").get_data(as_text=True)
    assert "nicht angewendet: „Antwortqualität“" in wrong
    chart = client.get("/coach/chart/scores.png?quality=flagged")
    assert chart.status_code == 200 and chart.mimetype == "image/png"


def test_bulk_judging_moves_the_counters_into_their_class(app: Flask) -> None:
    with app.app_context():
        ids = [
            add_response(
                started=TEN_MINUTES[0],
                finished=TEN_MINUTES[1],
                email=f"k{n}@example.com",
                marketing="confirmed",
                mail_status="sent",
            ).id
            for n in range(3)
        ]
        begin_write()
        # As `seed-demo` and `rebuild-rollups` do: flags set in bulk after the rows were counted.
        db.session.execute(
            update(Response.__table__)
            .where(Response.__table__.c.id.in_(ids[:2]))
            .values(quality_flags=SPEEDER)
        )
        rollup_rebuild.requalify(Response.__table__.c.id.in_(ids))
        # Bulk judging recounts the funnel (counters.on_demo_judged), it has no requalify.
        funnel_rebuild.rebuild()
        db.session.commit()
    counts = assert_rollups_equal_a_rebuild(app)
    finishes = {key[7]: c for key, (c, _) in counts.items() if key[4] == "finish" and c}
    assert finishes == {0: 1, SPEEDER: 2}
    marketing = {key[7]: c for key, (c, _) in counts.items() if key[4] == "marketing" and c}
    assert marketing == {0: 1, SPEEDER: 2}


def test_rebuild_judges_unjudged_responses_before_counting(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        for _ in range(30):
            add_response(started=TEN_MINUTES[0], finished=TEN_MINUTES[1])
        # Finished before the counters existed: never judged, never counted.
        add_response(started="2026-03-02 10:00:00", finished="2026-03-02 10:00:30", maintain=False)
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 1
    result = runner.invoke(args=["rebuild-rollups"])
    assert result.exit_code == 0, result.output
    assert "1 response(s) judged" in result.output
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0
    counts = assert_rollups_equal_a_rebuild(app)
    assert {key[7] for key, (c, _) in counts.items() if key[4] == "finish" and c} == {0, SPEEDER}


def test_seeded_demo_takers_are_counted_in_their_class(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["seed-demo", "400", "--seed", "3"])
    assert result.exit_code == 0, result.output
    counts = assert_rollups_equal_a_rebuild(app)
    with app.app_context():
        flagged = db.session.scalar(
            select(func.count()).where(
                Response.__table__.c.is_demo.is_(True), Response.__table__.c.quality_flags != 0
            )
        )
    counted = sum(c for key, (c, _) in counts.items() if key[4] == "finish" and key[7])
    assert flagged and counted == flagged
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0


def test_migration_0009_keeps_every_count_both_ways(app: Flask) -> None:
    content = get_content(app)
    with app.app_context():
        for _ in range(30):
            add_response(started=TEN_MINUTES[0], finished=TEN_MINUTES[1], version=content.version)
    finish(app, straight_lining(content), email="b@example.com", consent_data="y")
    finish(app, varied(content), email="a@example.com", consent_data="y")
    expected = assert_rollups_equal_a_rebuild(app)
    assert any(key[7] for key in expected)

    def totals() -> dict[tuple[str, str], tuple[int, int]]:
        t = CoachRollup.__table__.c
        rows = db.session.execute(
            select(t.period, t.metric, func.sum(t.count), func.sum(t.total)).group_by(
                t.period, t.metric
            )
        )
        return {(p, m): (int(c), int(s)) for p, m, c, s in rows}

    with app.app_context():
        # The extra page's counters (0016) go with its column below 0016: not kept both ways.
        before = {key: value for key, value in totals().items() if key[1] != "extra"}
        assert len(before) < len(totals())
        db.session.remove()
        downgrade(revision="0008")
        try:
            # Every class summed into the one row each key had before.
            assert totals() == before
            db.session.remove()
        finally:
            upgrade()
        assert totals() == before
        db.session.remove()
    # Upgraded again, the flagged responses are back in their classes.
    rebuilt = assert_rollups_equal_a_rebuild(app)
    assert rebuilt == {key: value for key, value in expected.items() if key[4] != "extra"}
    with app.app_context():
        # The straight-liner, and the other web finish (seconds after 30 of ten minutes).
        assert item_stats_read.read(content.version, quality="flagged").finished == 2


def test_a_leads_page_says_why_it_is_flagged(app: Flask, client: FlaskClient) -> None:
    content = get_content(app)
    lined = finish(app, straight_lining(content), email="b@example.com", consent_data="y")
    clean = finish(app, varied(content), email="a@example.com", consent_data="y")
    create_test_coach(app)
    login(client)
    flagged_page = client.get(f"/coach/leads/{lined}").get_data(as_text=True)
    assert '<dd id="lead-quality">auffällig: bei allen Aussagen dieselbe Stufe</dd>' in flagged_page
    clean_page = client.get(f"/coach/leads/{clean}").get_data(as_text=True)
    assert '<dd id="lead-quality">unauffällig</dd>' in clean_page
    with app.app_context():
        begin_write()
        db.session.execute(
            update(Response.__table__)
            .where(Response.__table__.c.id == clean)
            .values(quality_flags=STRAIGHT_LINING | SPEEDER)
        )
        db.session.commit()
    both = client.get(f"/coach/leads/{clean}").get_data(as_text=True)
    assert (
        '<dd id="lead-quality">auffällig: bei allen Aussagen dieselbe Stufe; in weniger als einem'
        " Drittel der mittleren Bearbeitungszeit fertig</dd>"
    ) in both


def test_drop_offs_on_the_quality_page_follow_the_quality_filter(app: Flask) -> None:
    with app.app_context():
        for _ in range(30):
            add_response(started=TEN_MINUTES[0], finished=TEN_MINUTES[1])
        add_response(started="2026-03-02 10:00:00", finished="2026-03-02 10:00:20")  # a speeder
        for steps in (0, 2):
            add_response(started="2026-03-02 11:00:00", steps=steps)
        everyone = item_stats_read.read("2026.1").drafts_by_steps
        assert everyone == {0: 1, 2: 1}
        # Drafts are never judged: all of them are unflagged.
        assert item_stats_read.read("2026.1", quality="clean").drafts_by_steps == everyone
        assert item_stats_read.read("2026.1", quality="flagged").drafts_by_steps == {}
        assert item_stats_read.read("2026.1", quality="flagged").finished == 1
