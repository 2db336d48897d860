"""Norms for the taker (issue 14, item 1): "Sie liegen vor X % der Teilnehmenden" per dimension on
the result page, in both parts of the summary email and in the PDF report.

The taker goes through the real quiz; the others are finished responses counted by the item
statistics' writer hook, as finishing does. Every X is checked against numpy's count over the
generated scores (the taker's own response included), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re
import time
from email.message import EmailMessage
from html import unescape
from typing import Any

import numpy as np
import pytest
from flask import Flask, template_rendered
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from quiz import caches
from quiz.app_state import get_content
from quiz.extensions import db
from quiz.mail.compose import compose, new_message_id
from quiz.mail.transport import transport_for
from quiz.models import Response
from quiz.taker import pdf, rights
from tests.clock import FakeClock
from tests.coach_factories import add_response
from tests.factories import finished_response
from tests.mailserver import MailServer

LINE = re.compile(r"Sie liegen vor (\d+)\s% der Teilnehmenden")
NOTE = "Die Prozentzahl sagt, wie viele derer, die das Quiz in dieser Fassung"
ROW = re.compile(
    r'<th scope="row">([^<]+)</th>\s*<td>\d+</td>\s*<td>[^<]*</td>\s*(<td>[^<]*</td>)?'
)


def take_quiz(client: FlaskClient, app: Flask, seed: int = 11) -> tuple[str, dict[str, int]]:
    """The taker: the whole quiz through the web client; (result path, stored scores)."""
    done = finished_response(app, seed=seed)
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        return done.path, response.scores()


def add_others(
    app: Flask,
    rng: np.random.Generator,
    n: int,
    around: dict[str, int],
    *,
    demo: bool = False,
    version: str | None = None,
    forget: bool = True,
) -> list[dict[str, int]]:
    """n finished responses, counted as a finish does, with scores within 6 points of `around`
    (the taker's): many below, many above and many ties, so the half share matters."""
    with app.app_context():
        version = version or get_content().version
        out = []
        for _ in range(n):
            scores = {d: min(100, max(0, s + int(rng.integers(-6, 7)))) for d, s in around.items()}
            add_response(
                started="2026-11-02 09:00:00",
                finished="2026-11-02 09:10:00",
                scores=scores,
                version=version,
                demo=demo,
            )
            out.append(scores)
    if forget:
        # The result page reads the histograms at most NORMS_SECONDS old; the tests of the
        # figures start afresh, the cache test below waits the time out instead.
        caches.of(app).norms.clear()
    return out


def numpy_norms(own: dict[str, int], group: list[dict[str, int]]) -> dict[str, int]:
    """Share below plus half the share equal, whole percent rounded half up, in integers."""
    out = {}
    for dimension, score in own.items():
        values = np.array([scores[dimension] for scores in group])
        below, same, n = int((values < score).sum()), int((values == score).sum()), len(values)
        out[dimension] = (200 * below + 100 * same + n) // (2 * n)
    return out


def by_name(app: Flask, norms: dict[str, int]) -> dict[str, int]:
    with app.app_context():
        names = {d.id: d.name for d in get_content().dimensions}
    return {names[d]: x for d, x in norms.items()}


def page_norms(page: str) -> dict[str, int]:
    """Dimension name -> X from the score table; asserts nothing of it shows without norms."""
    rows = ROW.findall(page)
    assert rows, "no score table"
    if "Im Vergleich" not in page:
        assert NOTE not in page and not LINE.search(page)
        assert all(cell == "" for _, cell in rows)
        return {}
    assert NOTE in page
    out = {}
    for name, cell in rows:
        match = LINE.search(unescape(cell))
        assert match, cell
        out[unescape(name)] = int(match.group(1))
    return out


def view(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    return page.get_data(as_text=True)


@pytest.mark.app_config(QUIZ_NORMS_MIN=100)
def test_norms_appear_at_the_minimum_and_equal_numpy(app: Flask, client: FlaskClient) -> None:
    rng = np.random.default_rng(1)
    path, own = take_quiz(client, app)
    others = add_others(app, rng, 98, own)
    # 99 comparable responses (the taker's own among them): nothing, not even an empty column.
    assert page_norms(view(client, path)) == {}
    others += add_others(app, rng, 1, own)
    expected = numpy_norms(own, [own, *others])
    assert page_norms(view(client, path)) == by_name(app, expected)
    # Ties with the taker's own score are frequent, so the half share matters in every dimension.
    assert all(sum(o[d] == s for o in others) >= 3 for d, s in own.items())
    assert all(10 < x < 90 for x in expected.values())


@pytest.mark.app_config(QUIZ_NORMS_MIN=20)
def test_demo_takers_are_left_out_by_default(app: Flask, client: FlaskClient) -> None:
    rng = np.random.default_rng(2)
    path, own = take_quiz(client, app)
    real = add_others(app, rng, 19, own)
    # Demo takers all well below the taker: counted, they would raise every X.
    add_others(app, rng, 40, {d: s - 20 for d, s in own.items()}, demo=True)
    assert page_norms(view(client, path)) == by_name(app, numpy_norms(own, [own, *real]))
    # 20 real responses (the taker's included) are below a minimum of 21, whatever the 40
    # demo ones would add: nothing shows.
    app.config["QUIZ_NORMS_MIN"] = 21
    assert page_norms(view(client, path)) == {}


@pytest.mark.app_config(QUIZ_NORMS_MIN=20, QUIZ_NORMS_INCLUDE_DEMO=True)
def test_demo_takers_count_with_the_setting(app: Flask, client: FlaskClient) -> None:
    rng = np.random.default_rng(3)
    path, own = take_quiz(client, app)
    real = add_others(app, rng, 4, own)
    demo = add_others(app, rng, 15, own, demo=True)
    assert page_norms(view(client, path)) == by_name(app, numpy_norms(own, [own, *real, *demo]))


@pytest.mark.app_config(QUIZ_NORMS_MIN=20)
def test_other_content_versions_are_not_mixed_in(app: Flask, client: FlaskClient) -> None:
    rng = np.random.default_rng(4)
    path, own = take_quiz(client, app)
    current = add_others(app, rng, 10, own)
    add_others(app, rng, 40, {d: s - 20 for d, s in own.items()}, version="2026.1")
    assert page_norms(view(client, path)) == {}
    current += add_others(app, rng, 9, own)
    assert page_norms(view(client, path)) == by_name(app, numpy_norms(own, [own, *current]))


@pytest.mark.app_config(QUIZ_NORMS_MIN=10)
def test_the_cached_page_never_serves_stale_norms(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    rng = np.random.default_rng(5)
    path, own = take_quiz(client, app)
    others = add_others(app, rng, 9, own, forget=False)
    clock.advance(caches.NORMS_SECONDS + 0.2)
    first = page_norms(view(client, path))
    assert first == by_name(app, numpy_norms(own, [own, *others]))
    rendered: list[str] = []

    def record(_app: Flask, template: Any, context: Any, **_: Any) -> None:
        rendered.append(template.name)

    template_rendered.connect(record, app)
    try:
        # Unchanged norms: the page comes from the cache, nothing is rendered.
        view(client, path)
        assert rendered == []
        # Ten takers below everyone's score: every X rises, and the page shows it at once.
        with app.app_context():
            dimensions = [d.id for d in get_content().dimensions]
            for _ in range(10):
                zero = add_response(
                    started="2026-11-02 09:00:00",
                    finished="2026-11-02 09:10:00",
                    scores=dict.fromkeys(dimensions, 0),
                    version=get_content().version,
                )
            zero_id = zero.id
        lower = dict.fromkeys(dimensions, 0)
        group = [own, *others, *[lower] * 10]
        clock.advance(
            caches.NORMS_SECONDS + 0.2
        )  # the histograms a view reads are that old at most
        second = page_norms(view(client, path))
        assert second == by_name(app, numpy_norms(own, group)) != first
        assert "quiz/result.html" in rendered
        # A taker deleting their data takes their score back out of the norms.
        with app.app_context():
            assert rights.delete_data(zero_id)
        clock.advance(caches.NORMS_SECONDS + 0.2)
        third = page_norms(view(client, path))
        assert third == by_name(app, numpy_norms(own, group[:-1])) != second
    finally:
        template_rendered.disconnect(record, app)


def send_summary(app: Flask, mail_server: MailServer) -> tuple[str, str]:
    """Compose the taker's summary and deliver it over SMTP; (text part, html part)."""
    app.config.update(mail_server.smtp_config())
    with app.app_context():
        response = db.session.execute(
            select(Response).where(Response.email.is_not(None))
        ).scalar_one()
        message = compose(
            app,
            kind="result",
            recipient="kundin@example.com",
            message_id=new_message_id(app.config),
            response=response,
        )
    before = len(mail_server.messages)
    with transport_for(app.config) as transport:
        transport.send(message)
    received: EmailMessage = mail_server.wait_for(before + 1)[-1]
    parts = {part.get_content_type(): part for part in received.walk()}
    text = parts["text/plain"].get_content()  # type: ignore[attr-defined]
    html = parts["text/html"].get_content()  # type: ignore[attr-defined]
    return text, html


def text_norms(app: Flask, text: str) -> dict[str, int]:
    """Dimension name -> X from the text part's list of scores."""
    with app.app_context():
        names = [d.name for d in get_content().dimensions]
    out = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        name = next((n for n in names if line.startswith(f"- {n}: ")), None)
        if name is not None and i + 1 < len(lines) and (match := LINE.search(lines[i + 1])):
            out[name] = int(match.group(1))
    return out


@pytest.mark.app_config(QUIZ_NORMS_MIN=25)
def test_the_summary_email_shows_the_norms_in_both_parts(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    rng = np.random.default_rng(6)
    path, own = take_quiz(client, app)
    others = add_others(app, rng, 23, own)
    text, html = send_summary(app, mail_server)
    # 24 comparable responses, one below the minimum: neither part says anything of norms.
    assert not LINE.search(text) and NOTE not in " ".join(text.split())
    assert not LINE.search(unescape(html)) and "Im Vergleich" not in html and NOTE not in html
    others += add_others(app, rng, 1, own)
    expected = by_name(app, numpy_norms(own, [own, *others]))
    text, html = send_summary(app, mail_server)
    assert text_norms(app, text) == expected
    assert " ".join(text.split()).count(NOTE) == 1
    cells = re.findall(
        r">([^<>]+)</td>\s*<td[^>]*>\d+</td>\s*<td[^>]*>[^<]*</td>\s*<td[^>]*>([^<]*)</td>", html
    )
    html_norms = {
        unescape(name): int(match.group(1))
        for name, cell in cells
        if (match := LINE.search(unescape(cell)))
    }
    assert html_norms == expected
    assert NOTE in html and "Im Vergleich" in html
    # The same figures as the result page.
    assert page_norms(view(client, path)) == expected


@pytest.mark.app_config(QUIZ_NORMS_MIN=12)
def test_the_pdf_report_shows_the_norms(app: Flask, client: FlaskClient) -> None:
    rng = np.random.default_rng(7)
    path, own = take_quiz(client, app)
    others = add_others(app, rng, 11, own)
    deadline = time.monotonic() + 90
    while (answer := client.get(f"{path}/bericht.pdf")).status_code == 202:
        assert time.monotonic() < deadline, "the report never arrived"
        assert pdf.wait_for_renders(app, timeout=60)
    assert answer.status_code == 200
    reader = PdfReader(io.BytesIO(answer.data))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    expected = numpy_norms(own, [own, *others])
    found = [int(x) for x in LINE.findall(text)]
    with app.app_context():
        order = [d.id for d in get_content().dimensions if d.id in own]
    assert found == [expected[d] for d in order]
    assert "Die Prozentzahl sagt, wie viele derer" in text
