"""Many takers finishing at the same moment: every response stored, no 'database is locked'."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import func, select

from quiz.app_state import get_content
from quiz.domain.flow import extra_page
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.models import Answer, Response
from tests.quizflow import complete_quiz

THREADS = 8
QUIZZES_PER_THREAD = 3


def test_parallel_takers_all_get_stored(app: Flask) -> None:
    content = get_content(app)
    errors: list[BaseException] = []
    tokens: list[str] = []
    barrier = threading.Barrier(THREADS)

    def taker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            for round_ in range(QUIZZES_PER_THREAD):
                client = app.test_client()
                answers = sample_answers(content, "random", seed=index * 100 + round_)
                done = complete_quiz(client, app, answers, email=f"t{index}-{round_}@example.com")
                assert done.status_code == 302, done.status_code
                assert done.location.startswith("/r/")
                tokens.append(done.location)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=taker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[0]
    assert len(set(tokens)) == THREADS * QUIZZES_PER_THREAD
    with app.app_context():
        finished = db.session.scalar(
            select(func.count()).select_from(Response).where(Response.status == "finished")
        )
        answers = db.session.scalar(select(func.count()).select_from(Answer))
    assert finished == THREADS * QUIZZES_PER_THREAD
    # Every core question, and the extra page of those who got one.
    asked = [
        len(content.questions) + len(extra_page(content, sample_answers(content, "random", seed)))
        for seed in (i * 100 + r for i in range(THREADS) for r in range(QUIZZES_PER_THREAD))
    ]
    assert answers == sum(asked)
