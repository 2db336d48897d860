"""The coach's A/B tests page /coach/experimente: define, start, pause, end, read out (issue 25)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz import database
from quiz.counters import funnel
from tests.coach_factories import create_test_coach, csrf_token, login
from tests.test_html_valid import vnu_errors

FORM = {
    "title": "Überschrift im Herbst",
    "element": "landing_headline",
    "metric": "start",
    "threshold": "0,5",
    "name_0": "Alt",
    "text_0": "Wo hält Sie Ihr Kundenumgang zurück?",
    "name_1": "Neu",
    "text_1": "Was kostet Sie Ihr größter Engpass?",
}


@pytest.fixture
def coach(app: Flask, client: FlaskClient) -> FlaskClient:
    create_test_coach(app)
    login(client)
    return client


def _create(client: FlaskClient, **changes: str) -> object:
    page = client.get("/coach/experimente/")
    return client.post(
        "/coach/experimente/", data={"csrf_token": csrf_token(page.text), **FORM, **changes}
    )


def _act(client: FlaskClient, experiment: str, action: str) -> object:
    page = client.get(experiment)
    return client.post(
        f"{experiment}/status", data={"csrf_token": csrf_token(page.text), "action": action}
    )


def _count(app: Flask, experiment_id: int, counts: dict[int, tuple[int, int]]) -> None:
    with app.app_context(), database.write():
        deltas = {}
        for position, (visits, starts) in counts.items():
            deltas[(experiment_id, position, "visit")] = visits
            deltas[(experiment_id, position, "start")] = starts
        funnel.add_experiments(deltas)


def test_the_coach_defines_starts_and_ends_a_test(app: Flask, coach: FlaskClient) -> None:
    created = _create(coach)
    assert created.status_code == 302
    url = created.headers["Location"]
    experiment_id = int(url.rstrip("/").rsplit("/", 1)[1])
    assert "Entwurf" in coach.get(url).text
    assert _act(coach, url, "started").status_code == 302
    assert "läuft" in coach.get(url).text
    # The landing page now shows one of the two headlines (to a tool, so it counts no visit).
    landing = app.test_client().get("/", headers={"User-Agent": "curl/8.5"}).text
    assert FORM["text_0"] in landing or FORM["text_1"] in landing
    # Too few visits: no recommendation, the threshold visible.
    _count(app, experiment_id, {0: (80, 8), 1: (80, 20)})
    page = coach.get(url).text
    assert "Noch keine belastbare Aussage." in page
    assert "mindestens 100 Besuche" in page
    assert "0,50 Prozentpunkten" in page
    # Plenty of visits and a clear difference: a recommendation, with its reasons.
    _count(app, experiment_id, {0: (1920, 192), 1: (1920, 380)})
    page = coach.get(url).text
    assert "Empfehlung: Variante „Neu“" in page
    assert "Beta(201; 1801)" in page  # 200 starts of 2,000 visits under the uniform prior
    assert "Gleichverteilung" in page and "200.000 Zufallsziehungen" in page
    assert _act(coach, url, "paused").status_code == 302
    assert _act(coach, url, "ended").status_code == 302
    page = coach.get(url)
    winner = coach.post(
        f"{url}/gewinner", data={"csrf_token": csrf_token(page.text), "position": "1"}
    )
    assert winner.status_code == 302
    page = coach.get(url).text
    assert "Neu (Gewinner)" in page
    for action in ("angelegt", "gestartet", "pausiert", "beendet", "Gewinner gewählt"):
        assert action in page
    assert "coach:coach@example.com" in page


def test_a_lopsided_split_is_flagged(app: Flask, coach: FlaskClient) -> None:
    url = _create(coach).headers["Location"]
    experiment_id = int(url.rstrip("/").rsplit("/", 1)[1])
    _act(coach, url, "started")
    _count(app, experiment_id, {0: (1000, 100), 1: (1250, 250)})
    page = coach.get(url).text
    assert "Ungleiche Aufteilung" in page
    assert "Noch keine belastbare Aussage." in page


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text_1": ""}, "zwei bis vier Varianten"),
        ({"threshold": "viel"}, "Die Schwelle muss eine Zahl sein"),
        ({"threshold": "50"}, "zwischen 0,01 und 10"),
        ({"element": "footer"}, "welcher Text getestet"),
        ({"title": ""}, "einen Namen"),
        ({"element": "cta"}, "Beschriftung der Schaltfläche"),
    ],
)
def test_a_bad_form_says_why_and_keeps_the_values(
    coach: FlaskClient, changes: dict[str, str], message: str
) -> None:
    refused = _create(coach, **changes)
    assert refused.status_code == 422
    assert message in refused.text
    assert "Gespeichert wurde nichts." in refused.text
    assert FORM["text_0"] in refused.text
    assert "Noch kein Experiment angelegt." in refused.text


@pytest.mark.dialect_independent
def test_the_pages_need_a_login_and_unknown_ids_are_404(
    app: Flask, client: FlaskClient, coach: FlaskClient
) -> None:
    assert app.test_client().get("/coach/experimente/").status_code in (302, 401)
    assert coach.get("/coach/experimente/999").status_code == 404
    assert coach.get("/coach/experimente/0").status_code == 404
    assert coach.get("/coach/experimente/99999999999").status_code == 404
    url = _create(coach).headers["Location"]
    page = coach.get(url)
    wrong = coach.post(
        f"{url}/status", data={"csrf_token": csrf_token(page.text), "action": "explode"}
    )
    assert wrong.status_code == 422 and "gibt es nicht" in wrong.text


@pytest.mark.dialect_independent
def test_the_pages_are_valid_html(app: Flask, coach: FlaskClient, tmp_path: Path) -> None:
    url = _create(coach).headers["Location"]
    _act(coach, url, "started")
    (tmp_path / "list.html").write_text(coach.get("/coach/experimente/").text)
    (tmp_path / "detail.html").write_text(coach.get(url).text)
    (tmp_path / "refused.html").write_text(_create(coach, text_1="").text)
    assert vnu_errors(tmp_path) == []
    assert re.search(r'aria-current="page">Experimente<', coach.get(url).text)
