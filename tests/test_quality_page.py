"""The coach's "Fragebogen-Qualität" page shows the figures numpy computes from generated takers,
follows its filters, needs a login, waits for 30 answers and is valid HTML (SQLite and
PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz.app_state import get_content, get_content_version
from quiz.domain import psychometrics as ps
from quiz.domain.content import Content
from tests.coach_factories import add_response, create_test_coach, login
from tests.quality_data import (
    finish,
    generated,
    numpy_alpha,
    numpy_item_total_r,
    points_matrix,
)
from tests.test_html_valid import vnu_errors

URL = "/coach/qualitaet"
ROW = re.compile(r'<tr id="(?P<id>[dq]-[a-z0-9_]+)">(?P<body>.*?)</tr>', re.S)
CELL = re.compile(r'<td data-stat="(?P<stat>[a-z_]+)"[^>]*>(?P<text>.*?)</td>', re.S)
OPTION = re.compile(r'<tr data-option="(?P<id>[a-z0-9_]+)">.*?<td data-stat="count">(?P<n>[0-9.]+)')


def rows(html: str) -> dict[str, dict[str, str]]:
    """Every dimension (d-…) and question (q-…) row: its cells by data-stat."""
    return {
        m["id"]: {c["stat"]: c["text"].strip() for c in CELL.finditer(m["body"])}
        for m in ROW.finditer(html)
    }


def option_counts(html: str, question_id: str) -> dict[str, int]:
    """The 'Antworten je Option' table of one question: option id -> count."""
    start = html.index(f'<table class="scores" id="o-{question_id}">')
    table = html[start : html.index("</table>", start)]
    return {m["id"]: int(m["n"].replace(".", "")) for m in OPTION.finditer(table)}


def german(value: float, digits: int = 2) -> str:
    """A number as the page writes it: decimal comma, typographic minus."""
    return f"{value:.{digits}f}".replace("-", "−").replace(".", ",")


def percent(share: float) -> str:
    return f"{share * 100:.1f}".replace(".", ",") + "&nbsp;%"


def logged_in(app: Flask, client: FlaskClient) -> FlaskClient:
    create_test_coach(app)
    assert login(client).status_code == 302
    return client


def assert_page_matches(html: str, content: Content, takers: list[dict[str, str]]) -> None:
    """Every figure of the page equals numpy's on these takers' points."""
    found = rows(html)
    for dimension in content.dimensions:
        x = points_matrix(content, takers, dimension.id)
        alpha = numpy_alpha(x)
        assert found[f"d-{dimension.id}"] == {
            "n": str(len(takers)),
            "alpha": german(alpha),
            "flags": "Geringe Zuverlässigkeit (α unter 0,6)" if alpha < 0.6 else "–",
        }
        for i, question in enumerate(content.questions_of(dimension.id)):
            column = x[:, i]
            cells = found[f"q-{question.id}"]
            assert cells["n"] == str(len(takers))
            assert cells["mean"] == german(column.mean())
            r = numpy_item_total_r(x, i)
            assert cells["item_total_r"] == german(r)
            assert cells["alpha_if_deleted"] == german(numpy_alpha(np.delete(x, i, axis=1)))
            assert cells["floor"] == percent((column == 0).mean())
            assert cells["ceiling"] == percent((column == 4).mean())
            flags = [
                *(["Passt wenig zum Bereich (Trennschärfe unter 0,2)"] if r < 0.2 else []),
                *(["Bodeneffekt (über 80 % mit 0 Punkten)"] if (column == 0).mean() > 0.8 else []),
                *(["Deckeneffekt (über 80 % mit 4 Punkten)"] if (column == 4).mean() > 0.8 else []),
            ]
            assert cells["flags"] == ("<br>".join(flags) or "–")
            chosen = [taker[question.id] for taker in takers]
            expected = {c.id: chosen.count(c.id) for c in content.choices(question.id)}
            assert option_counts(html, question.id) == expected


def test_page_shows_the_figures_numpy_computes(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        content = get_content()
        real = generated(content, 1, 40)
        demo = generated(content, 2, 12)
        for chosen in real:
            finish(content, chosen)
        for chosen in demo:
            finish(content, chosen, demo=True)
    logged_in(app, client)
    page = client.get(URL)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "private, no-store"
    html = page.get_data(as_text=True)
    assert 'aria-current="page">Fragebogen-Qualität</a>' in html
    assert '<p class="kpi-value" id="kpi-finished">52</p>' in html
    assert_page_matches(html, content, real + demo)
    # Demo data left out, and demo data only (12 < 30: too few).
    assert_page_matches(client.get(URL + "?demo=real").get_data(as_text=True), content, real)
    only_demo = client.get(URL + "?demo=demo").get_data(as_text=True)
    assert rows(only_demo)[f"d-{content.dimensions[0].id}"] == {
        "n": "12",
        "alpha": "noch zu wenige Antworten",
    }
    # The date and campaign filters do not apply, and the page says so.
    assert "Zeitraum und Kampagne der Übersicht gelten hier nicht" in html
    assert_page_matches(
        client.get(URL + "?demo=real&from=2026-01-01&campaign=x").get_data(as_text=True),
        content,
        real,
    )


def test_quality_filter_leaves_out_straight_liners_and_speeders(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        content = get_content()
        clean = generated(content, 3, 35)
        for chosen in clean:
            finish(content, chosen, seconds=600)
        statements = [q.id for q in content.questions if q.type == "likert"]
        lined = {**generated(content, 4, 1)[0], **dict.fromkeys(statements, "teils")}
        finish(content, lined, seconds=590)
        speeder = generated(content, 5, 1)[0]
        finish(content, speeder, seconds=120)
    logged_in(app, client)
    everyone = client.get(URL).get_data(as_text=True)
    assert '<p class="kpi-value" id="kpi-finished">37</p>' in everyone
    assert '<p class="kpi-value" id="kpi-straight">1</p>' in everyone
    assert '<p class="kpi-value" id="kpi-speeders">1</p>' in everyone
    assert_page_matches(everyone, content, [*clean, lined, speeder])
    without = client.get(URL + "?quality=clean").get_data(as_text=True)
    assert '<option value="clean" selected>' in without
    assert '<p class="kpi-value" id="kpi-finished">35</p>' in without
    assert_page_matches(without, content, clean)
    flagged = client.get(URL + "?quality=flagged").get_data(as_text=True)
    assert '<p class="kpi-value" id="kpi-finished">2</p>' in flagged
    # An unknown choice is ignored, and the page says which filter.
    wrong = client.get(URL + "?quality=egal&demo=kaputt").get_data(as_text=True)
    assert "nicht angewendet: „Antwortqualität“" in wrong
    assert "nicht angewendet: „Demodaten“" in wrong
    assert_page_matches(wrong, content, [*clean, lined, speeder])


def test_versions_are_kept_apart(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        content = get_content()
        current = generated(content, 6, 30)
        for chosen in current:
            finish(content, chosen)
        for chosen in generated(content, 7, 3):
            finish(content, chosen, version="2025.9")
    logged_in(app, client)
    html = client.get(URL).get_data(as_text=True)
    assert '<option value="2025.9">2025.9</option>' in html
    assert_page_matches(html, content, current)
    old = client.get(URL + "?version=2025.9").get_data(as_text=True)
    assert '<option value="2025.9" selected>' in old
    dimension = content.dimensions[0].id
    assert rows(old)[f"d-{dimension}"] == {"n": "3", "alpha": "noch zu wenige Antworten"}
    # Another version's questions are named by id: its texts may differ from today's.
    question = content.questions_of(dimension)[0]
    assert f'<th scope="row">{question.id}</th>' in old
    unknown = client.get(URL + "?version=1999.1").get_data(as_text=True)
    assert 'id="no-answers"' in unknown


def test_an_archived_version_shows_its_own_questions(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        archived = get_content_version("2026.1")
        assert archived.version == "2026.1" != get_content().version
        takers = generated(archived, 13, 31)
        for chosen in takers:
            finish(archived, chosen)
    logged_in(app, client)
    html = client.get(URL + "?version=2026.1").get_data(as_text=True)
    assert_page_matches(html, archived, takers)
    first = archived.questions[0]
    assert f'<th scope="row">1. {first.text}</th>' in html


def test_below_thirty_answers_the_page_says_so_and_shows_no_statistics(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        content = get_content()
        takers = generated(content, 8, 30)
        for chosen in takers[:29]:
            finish(content, chosen)
    logged_in(app, client)
    html = client.get(URL).get_data(as_text=True)
    found = rows(html)
    for dimension in content.dimensions:
        assert found[f"d-{dimension.id}"] == {"n": "29", "alpha": "noch zu wenige Antworten"}
        assert f'id="few-{dimension.id}"' in html
        for question in content.questions_of(dimension.id):
            assert set(found[f"q-{question.id}"]) == {"n", "left"}
    assert "Noch zu wenige Antworten: 29 vollständige von mindestens 30." in html
    with app.app_context():
        finish(content, takers[29])
    html = client.get(URL).get_data(as_text=True)
    assert "noch zu wenige Antworten" not in html.lower()
    assert_page_matches(html, content, takers)


def test_each_question_shows_how_many_stopped_on_its_page(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        content = get_content()
        for steps in (0, 0, 0, 2, 5):
            add_response(started="2026-10-01 10:00:00", steps=steps, version=content.version)
        add_response(started="2026-10-01 10:00:00", steps=2, version=content.version, demo=True)
    logged_in(app, client)
    html = client.get(URL).get_data(as_text=True)
    found = rows(html)
    expected = {1: 3, 3: 2, 6: 1}  # demo drafts count by default, as on the dashboard
    for number, page in enumerate(content.pages, 1):
        for question in page.questions:
            assert (
                found[f"q-{question.id}"]["left"] == f"{expected.get(number, 0)} (Seite {number})"
            )
    real = rows(client.get(URL + "?demo=real").get_data(as_text=True))
    assert real[f"q-{content.pages[2].questions[0].id}"]["left"] == "1 (Seite 3)"
    demo = rows(client.get(URL + "?demo=demo").get_data(as_text=True))
    assert demo[f"q-{content.pages[2].questions[0].id}"]["left"] == "1 (Seite 3)"
    assert demo[f"q-{content.pages[0].questions[0].id}"]["left"] == "0 (Seite 1)"


def test_flags_are_explained_in_plain_german(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        content = get_content()
        takers = generated(content, 9, 40)
        # One question everybody answers with its 0-point option: a floor effect.
        question = content.questions[0]
        zero = next(c.id for c in content.choices(question.id) if c.applicable and c.points == 0)
        for chosen in takers:
            finish(content, {**chosen, question.id: zero})
    logged_in(app, client)
    html = client.get(URL).get_data(as_text=True)
    assert rows(html)[f"q-{question.id}"]["floor"] == "100,0&nbsp;%"
    assert "Bodeneffekt (über 80 % mit 0 Punkten)" in rows(html)[f"q-{question.id}"]["flags"]
    assert "Fast alle wählen die Antwort, die am stärksten für einen Engpass spricht" in html


def test_the_page_needs_a_login(app: Flask, client: FlaskClient) -> None:
    page = client.get(URL + "?demo=real")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/coach/login?next=/coach/qualitaet")


@pytest.mark.dialect_independent
def test_the_page_is_valid_html(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    with app.app_context():
        content = get_content()
        for chosen in generated(content, 10, 31):
            finish(content, chosen)
        add_response(started="2026-10-01 10:00:00", steps=1, version=content.version)
    logged_in(app, client)
    folder = tmp_path / "pages"
    folder.mkdir()
    for name, query in {"full": "", "few": "?demo=demo", "bad": "?quality=x&version=0"}.items():
        page = client.get(URL + query)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "<h1>Fragebogen-Qualität</h1>" in html
        (folder / f"quality-{name}.html").write_text(html)
    assert vnu_errors(folder) == []


@pytest.mark.dialect_independent
@pytest.mark.parametrize("query", ["?version=" + "v" * 41, "?demo=alle"])
def test_invalid_filters_are_ignored_with_a_notice(
    app: Flask, client: FlaskClient, query: str
) -> None:
    logged_in(app, client)
    page = client.get(URL + query)
    assert page.status_code == 200
    assert "wurde nicht angewendet" in page.get_data(as_text=True)


def test_every_flag_code_has_german_words_in_the_template() -> None:
    template = (Path(__file__).resolve().parent.parent / "templates/coach/quality.html").read_text()
    start = template.index("{% set FLAG_TEXTS = {")
    words = template[start : template.index("} %}", start)]
    for code in ps.FLAGS:
        assert f'"{code}": ("' in words
