"""The extra page in the web quiz (issue 23): after the last core page and before the lead step,
only when the core answers leave the weakest dimensions close; counted apart in the funnel."""

from __future__ import annotations

import re

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.coach import stats
from quiz.counters import item_stats_read, item_stats_rebuild, norms_read
from quiz.domain.flow import evaluate, extra_page
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.models import EXTRA_ANSWERED, EXTRA_DUE, Answer, Response
from quiz.taker import responses
from tests.coach_factories import assert_rollups_equal_a_rebuild
from tests.factories import finished_response, with_extra
from tests.quizflow import answer_all_pages, answer_extra, csrf_token, lead_step, start
from tests.test_quality_page import logged_in

CLOSE_SEED = 5  # random answers whose weakest dimensions are close after the core
CLEAR_SEED = 12  # random answers whose weakest dimension stands apart


def _stored(app: Flask, token: str) -> tuple[Response, dict[str, str]]:
    with app.app_context():
        response = db.session.execute(
            select(Response).where(Response.result_token == token)
        ).scalar_one()
        answers = db.session.execute(
            select(Answer.question_id, Answer.option_id).where(Answer.response_id == response.id)
        ).all()
        db.session.expunge(response)
    return response, dict(answers)


def _funnel(app: Flask) -> tuple[int, int]:
    with app.app_context():
        figures = stats.dashboard(stats.Filters(), ["a"], [])
    return figures.extra_due, figures.extra_answered


def test_a_close_profile_gets_one_extra_page_and_its_answers_count(
    client: FlaskClient, app: Flask
) -> None:
    content = get_content(app)
    core = sample_answers(content, "random", seed=CLOSE_SEED)
    due = extra_page(content, core)
    assert due, "the seed must be close after the core"
    answers = with_extra(content, core)
    pages, lead = len(content.pages), len(content.pages) + 1
    start(client)
    answer_all_pages(client, app, core, extra=False)

    # The last core page led to the extra page; the lead step waits for it.
    assert client.get(f"/quiz/{lead}").location == "/quiz/zusatz"
    page = client.get("/quiz/zusatz")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"(Schritt {pages + 1} von {pages + 2})" in text
    asked = re.findall(r'id="frage-([\w-]+)"', text)
    assert asked == list(due)  # just the questions due, in the bank's order
    numbers = re.findall(r'<span class="question-number">(\d+)\.</span>', text)
    assert numbers == [str(len(content.questions) + i) for i in range(1, len(due) + 1)]
    assert _funnel(app) == (1, 0)

    # Nothing answered: the page comes back with an error per question, nothing lost.
    empty = client.post("/quiz/zusatz", data={"csrf_token": csrf_token(page), "action": "next"})
    assert empty.status_code == 422
    assert "Bitte beantworten Sie die Fragen auf dieser Seite." in empty.get_data(as_text=True)
    # An option the question does not offer is refused in German.
    data = {"csrf_token": csrf_token(page), "action": "next", due[0]: "kaputt"}
    assert "Bitte wählen Sie eine der angebotenen Antworten." in client.post(
        "/quiz/zusatz", data=data
    ).get_data(as_text=True)

    done = answer_extra(client, answers)
    assert done is not None and done.location == f"/quiz/{lead}"
    assert _funnel(app) == (1, 1)
    lead_page = client.get(f"/quiz/{lead}").get_data(as_text=True)
    assert f"(Schritt {pages + 2} von {pages + 2})" in lead_page
    # Back from the lead step goes to the extra page, its answers kept.
    back = client.post(
        f"/quiz/{lead}", data={"csrf_token": csrf_token(lead_page), "action": "back"}
    )
    assert back.location == "/quiz/zusatz"
    again = client.get("/quiz/zusatz").get_data(as_text=True)
    assert all(f'value="{answers[q]}" required checked' in again for q in due)

    finished = lead_step(client, app, email="k@example.com", consent_data="y")
    assert finished.status_code == 302 and finished.location.startswith("/r/")
    response, stored = _stored(app, finished.location.removeprefix("/r/"))
    assert stored == answers  # the extra answers are stored like the core's
    final = evaluate(content, answers)
    assert final.complete and final.next_questions == ()  # at most one extra page
    assert final.result is not None
    assert response.scores() == {
        d: s for d, s in final.result.scores.items() if f"score_{d}" in Response.__table__.c
    }
    assert response.bottleneck == final.result.bottleneck
    # The finished response has left the extra page; the funnel still counts it as answered.
    assert client.get("/quiz/zusatz").location == finished.location
    assert _funnel(app) == (1, 1)
    assert_rollups_equal_a_rebuild(app)


@pytest.mark.dialect_independent
def test_a_head_of_the_extra_page_is_answered_as_its_get_and_stores_nothing(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HEAD is the GET without its body, not a form sent empty (a save and a 422)."""
    content = get_content(app)
    start(client)
    answer_all_pages(client, app, sample_answers(content, "random", seed=CLOSE_SEED), extra=False)
    saves: list[object] = []
    monkeypatch.setattr(responses, "save_step", lambda *args, **kwargs: saves.append(args))
    get = client.get("/quiz/zusatz")
    head = client.head("/quiz/zusatz")
    assert (head.status_code, get.status_code) == (200, 200)
    assert head.headers.get("Content-Length") == get.headers.get("Content-Length")
    assert saves == []


@pytest.mark.dialect_independent
def test_a_clear_profile_goes_straight_to_the_lead_step(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=CLEAR_SEED)
    assert not extra_page(content, answers)
    start(client)
    assert client.get("/quiz/zusatz").location == "/quiz/1"  # not before the core
    for number in range(1, len(content.pages)):
        client.post(
            f"/quiz/{number}",
            data={
                "csrf_token": csrf_token(client.get(f"/quiz/{number}")),
                "action": "next",
                **{q.id: answers[q.id] for q in content.pages[number - 1].questions},
            },
        )
    last = len(content.pages)
    form = client.get(f"/quiz/{last}")
    data = {"csrf_token": csrf_token(form), "action": "next"}
    data |= {q.id: answers[q.id] for q in content.pages[-1].questions}
    assert client.post(f"/quiz/{last}", data=data).location == f"/quiz/{last + 1}"
    assert client.get("/quiz/zusatz").location == f"/quiz/{last + 1}"
    lead = client.get(f"/quiz/{last + 1}").get_data(as_text=True)
    assert f"(Schritt {last + 1} von {last + 1})" in lead
    finished = lead_step(client, app, email="k@example.com", consent_data="y")
    _response, stored = _stored(app, finished.location.removeprefix("/r/"))
    assert stored == answers
    assert _funnel(app) == (0, 0)


@pytest.mark.dialect_independent
def test_extra_answers_no_longer_due_are_dropped_at_the_finish(
    client: FlaskClient, app: Flask
) -> None:
    """A core answer changed after the extra page: the page the new answers get is asked (or
    none), and answers to questions no longer due are neither scored nor kept."""
    content = get_content(app)
    core = sample_answers(content, "random", seed=CLOSE_SEED)
    start(client)
    answer_all_pages(client, app, core)  # with the extra page
    best = sample_answers(content, "best")
    assert not extra_page(content, best)
    answer_all_pages(client, app, best)  # every core answer changed: no extra page now
    finished = lead_step(client, app, email="k@example.com", consent_data="y")
    _response, stored = _stored(app, finished.location.removeprefix("/r/"))
    assert stored == best
    assert _funnel(app) == (0, 0)


def test_the_funnel_counts_the_extra_page_by_those_who_got_it(app: Flask) -> None:
    """Two takers get the extra page, one leaves there; a third gets none. The share is of the
    two, and a rebuild agrees."""
    content = get_content(app)
    for seed, extra in ((CLOSE_SEED, True), (7, False), (CLEAR_SEED, True)):
        client = app.test_client()
        start(client)
        answer_all_pages(client, app, sample_answers(content, "random", seed=seed), extra=extra)
    with app.app_context():
        states = db.session.execute(select(Response.extra_page).order_by(Response.id)).scalars()
        assert list(states) == [EXTRA_ANSWERED, EXTRA_DUE, 0]
    assert _funnel(app) == (2, 1)
    assert_rollups_equal_a_rebuild(app)


def test_demo_takers_get_extra_pages_like_real_ones(app: Flask) -> None:
    """Demo takers come from `flow.sample_taker`: those close after the core answered an
    extra page and are scored with it; those who stopped there count as having got it; the
    counters equal a rebuild and the item statistics' check is clean."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "400", "--seed", "3"])
    assert result.exit_code == 0, result.output
    content = get_content(app)
    bank = {q.id for q in content.extra_questions}
    with app.app_context():
        rows = db.session.execute(
            select(
                Response.id, Response.status, Response.extra_page, Response.steps_completed
            ).where(Response.content_version == content.version)
        ).all()
        answered = {
            response_id: dict(
                db.session.execute(
                    select(Answer.question_id, Answer.option_id).where(
                        Answer.response_id == response_id
                    )
                ).all()
            )
            for response_id, status, _extra, _steps in rows
            if status == "finished"
        }
        stored = {
            response.id: response
            for response in db.session.scalars(
                select(Response).where(Response.id.in_(list(answered)))
            )
        }
        with_extra_page = 0
        for response_id, answers in answered.items():
            evaluation = evaluate(content, answers)
            assert evaluation.complete and evaluation.result is not None
            assert stored[response_id].bottleneck == evaluation.result.bottleneck
            got = bool(bank & set(answers))
            assert stored[response_id].extra_page == (EXTRA_ANSWERED if got else 0)
            with_extra_page += got
        assert 0 < with_extra_page < len(answered)
        left_there = [
            extra
            for _id, status, extra, steps in rows
            if status == "draft" and steps == len(content.pages)
        ]
        assert EXTRA_DUE in left_there
    assert_rollups_equal_a_rebuild(app)
    check = runner.invoke(args=["rebuild-rollups", "--check"])
    assert check.exit_code == 0, check.output


def test_item_statistics_and_norms_count_extra_questions_per_exposure(
    app: Flask, client: FlaskClient
) -> None:
    """Four takers get an extra page, two do not. Each extra question counts the answers of
    those who were asked it; α and the dimension's n are over the core questions all six
    answered (numpy agrees); the norms count all six; the rebuild's check is clean."""
    content = get_content(app)
    seeds = (0, 1, 2, 3, CLEAR_SEED, 19)
    takers = [with_extra(content, sample_answers(content, "random", seed), seed) for seed in seeds]
    assert sum(len(t) > len(content.questions) for t in takers) == 4
    for seed, answers in zip(seeds, takers, strict=True):
        finished_response(app, answers, seed=seed)
    with app.app_context():
        report = item_stats_read.read(content.version)
        assert item_stats_rebuild.check() == []
        histograms = norms_read.comparison_histograms(content.version, False)
    bank = {q.id for q in content.extra_questions}
    for question_id in bank:
        asked = sum(question_id in answers for answers in takers)
        figures = report.questions.get(question_id)
        if not asked:
            assert figures is None
            continue
        assert figures is not None and figures.extra
        assert figures.analysis.distribution.n == asked
        assert figures.analysis.item_total_r is None
    for dimension in content.dimensions:
        core = [q.id for q in content.questions_of(dimension.id)]
        x = np.array(
            [[content.choice(q, answers[q]).points for q in core] for answers in takers],
            dtype=float,
        )
        k = x.shape[1]
        expected = k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
        analysis = report.dimensions[dimension.id]
        assert analysis.n == len(takers)
        assert analysis.alpha is not None and abs(analysis.alpha - expected) < 1e-9
        assert sum(histograms[dimension.id].values()) == len(takers)
    # The coach's page marks them and shows their own n.
    page = logged_in(app, client).get("/coach/qualitaet").get_data(as_text=True)
    assert "Zusatzseite" in page
