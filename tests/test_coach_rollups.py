"""The rollup table always equals a rebuild from the raw rows, whatever path wrote them."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from quiz.app_state import get_content
from quiz.counters import funnel, rollup_keys, rollups
from quiz.database import begin_write
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.models import Response
from tests import quizflow
from tests.coach_factories import add_response, assert_rollups_equal_a_rebuild


def test_rollups_follow_the_quiz_flow_and_equal_a_rebuild(app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=3)
    # Two finished takers from different campaigns, one who stopped after step 2, one who only
    # looked at the first page.
    for query in ("?utm_campaign=herbst", ""):
        client = app.test_client()
        quizflow.start(client, query)
        quizflow.answer_all_pages(client, app, answers)  # with the extra page seed 3 gets
        finished = quizflow.lead_step(client, app, email="k@example.com", consent_data="y")
        assert finished.status_code == 302
    dropped = app.test_client()
    quizflow.start(dropped, "?utm_campaign=herbst")
    for number in (1, 2):
        assert quizflow.answer_page(dropped, app, number, answers).status_code == 302
    quizflow.answer_page(dropped, app, 2, answers)  # answering a page twice counts once
    quizflow.start(app.test_client())

    counts = assert_rollups_equal_a_rebuild(app)
    by_metric: dict[str, int] = {}
    for key, (count, _total) in counts.items():
        by_metric[key[4]] = by_metric.get(key[4], 0) + count
    assert by_metric["start"] == 4
    assert by_metric["finish"] == 2
    reached: dict[int, int] = {}
    for key, (count, _total) in counts.items():
        if key[4] == "reached":
            reached[key[6]] = reached.get(key[6], 0) + count
    assert reached == {0: 1, 2: 1, len(content.pages) + 1: 2}
    campaigns = {key[1] for key, (count, _) in counts.items() if key[4] == "finish" and count}
    assert campaigns == {"herbst", ""}


def test_rollups_equal_a_rebuild_after_seed_and_remove(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        add_response(started="2026-03-02 10:00:00", finished="2026-03-02 10:05:00")
    result = runner.invoke(args=["seed-demo", "300", "--seed", "7"])
    assert result.exit_code == 0, result.output
    counts = assert_rollups_equal_a_rebuild(app)
    assert sum(c for key, (c, _) in counts.items() if key[4] == "start" and key[3]) == 300

    result = runner.invoke(args=["rebuild-rollups", "--check"])
    assert result.exit_code == 0, result.output
    assert "differing before the rebuild: 0" in result.output

    result = runner.invoke(args=["seed-demo", "--remove"])
    assert result.exit_code == 0, result.output
    assert "removed 300" in result.output
    counts = assert_rollups_equal_a_rebuild(app)
    assert sum(c for key, (c, _) in counts.items() if key[4] == "start") == 1


def test_rebuild_check_reports_drift(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        add_response(started="2026-03-02 10:00:00", maintain=False)
    result = runner.invoke(args=["rebuild-rollups", "--check"])
    assert result.exit_code == 1
    result = runner.invoke(args=["rebuild-rollups"])
    assert result.exit_code == 0
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0


def test_deleting_a_taker_takes_back_their_counts(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        kept = add_response(started="2026-03-02 10:00:00", finished="2026-03-02 10:05:00").id
        gone = add_response(
            started="2026-03-02 11:00:00", finished="2026-03-03 09:00:00", campaign="x"
        ).id
        begin_write()
        response = db.session.get(Response, gone)
        rollups.on_delete([response])
        funnel.on_delete(response)
        db.session.delete(response)
        db.session.commit()
        assert db.session.get(Response, kept) is not None
    counts = assert_rollups_equal_a_rebuild(app)
    assert sum(c for key, (c, _) in counts.items() if key[4] == "finish") == 1


# Finishes at the fractional edges of a second: SQLite's strftime('%s') rounds to the millisecond,
# so 09.9995 became second 10 in the rebuild while the live counters said 9 (issue 10, item 8).
EDGE_FINISHES = [
    ("2026-03-02 10:00:00.000000", "2026-03-02 10:00:09.999500"),  # 9 s: bucket 0, not 10
    ("2026-03-02 10:00:00.999999", "2026-03-02 10:00:10.000000"),  # 10 s
    ("2026-03-02 10:00:00.999600", "2026-03-02 10:01:59.999999"),  # 119 s: bucket 110
    ("2026-03-02 10:00:00.000400", "2026-03-02 10:59:59.999500"),  # 3599 s: the last fine bucket
    ("2026-03-02 23:59:59.999500", "2026-03-03 00:00:09.999900"),  # 10 s across midnight
]


def test_durations_at_fractional_second_edges_agree_on_both_paths(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        for started, finished in EDGE_FINISHES:
            add_response(started=started, finished=finished)
    counts = assert_rollups_equal_a_rebuild(app)
    durations: dict[int, int] = {}
    for key, (count, _total) in counts.items():
        if key[4] == "duration" and count:
            durations[key[6]] = durations.get(key[6], 0) + count
    assert durations == {0: 1, 10: 2, 110: 1, 3590: 1}
    total = sum(total for key, (_count, total) in counts.items() if key[4] == "finish")
    assert total == 9 + 10 + 119 + 3599 + 10
    result = runner.invoke(args=["rebuild-rollups", "--check"])
    assert result.exit_code == 0, result.output
    assert "differing before the rebuild: 0" in result.output


def test_seconds_between_truncates_each_end_to_its_second() -> None:
    from datetime import UTC, datetime

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    for started, finished in EDGE_FINISHES:
        whole = (at(finished).replace(microsecond=0) - at(started).replace(microsecond=0)).seconds
        assert rollup_keys.seconds_between(at(started), at(finished)) == whole
