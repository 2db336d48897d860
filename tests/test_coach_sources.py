"""The dashboard's conversion per traffic source: the table, its order, the filters, the CSV."""

from __future__ import annotations

import csv
import io
import re

from flask import Flask
from flask.testing import FlaskClient

from tests import quizflow
from tests.coach_factories import create_test_coach, login
from tests.test_visits import browser

ROW = re.compile(
    r"<tr>\s*<td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>\s*<td>(.*?)</td>"
)


def _traffic(app: Flask) -> None:
    """linkedin: 4 visits, 2 starts; newsletter: 2 visits, 2 starts; a formula as source."""
    for source, visits, starts in (("linkedin", 4, 2), ("newsletter", 2, 2), ("=1%2B2", 1, 0)):
        for n in range(visits):
            client = browser(app)
            if n < starts:
                quizflow.start(client, f"?utm_source={source}&utm_medium=social")
            else:
                client.get(f"/?utm_source={source}&utm_medium=social")


def _sources(page: str) -> list[str]:
    table = page.split('id="source-table"', 1)[1].split("</tbody>", 1)[0]
    return [match.group(1) for match in ROW.finditer(table)]


def test_the_table_shows_rates_per_source_and_sorts(app: Flask, client: FlaskClient) -> None:
    _traffic(app)
    create_test_coach(app)
    login(client)
    page = client.get("/coach/").text
    assert _sources(page) == ["linkedin", "newsletter", "=1+2"]  # by visits, most first
    assert "50,0 %" in page and "100,0 %" in page  # linkedin's and newsletter's start rates
    assert "7 Besuche → 4 gestartet" in page
    by_rate = client.get("/coach/?by=start_rate&order=desc").text
    assert _sources(by_rate) == ["newsletter", "linkedin", "=1+2"]
    assert 'aria-sort="descending"' in by_rate
    ascending = client.get("/coach/?by=start_rate&order=asc").text
    assert _sources(ascending) == ["=1+2", "linkedin", "newsletter"]
    by_name = client.get("/coach/?by=source&order=asc").text
    assert _sources(by_name) == ["=1+2", "linkedin", "newsletter"]
    # An unknown order is the default one; demo-only data has none of these.
    assert _sources(client.get("/coach/?by=nonsense").text) == _sources(page)
    assert "noch keine Besuche oder Starts" in client.get("/coach/?demo=demo").text


def test_the_csv_is_safe_for_spreadsheets(app: Flask, client: FlaskClient) -> None:
    _traffic(app)
    create_test_coach(app)
    login(client)
    download = client.get("/coach/quellen.csv?by=visits&order=desc")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][:5] == [
        "Quelle (utm_source)",
        "Medium (utm_medium)",
        "Kampagne (utm_campaign)",
        "Verweisende Website",
        "Besuche",
    ]
    assert rows[1][:5] == ["linkedin", "social", "(keine)", "(keine)", "4"]
    assert rows[1][9] == "50,0"
    assert rows[3][0] == "'=1+2"  # no formula
    assert client.get("/coach/quellen.csv?from=gestern").status_code == 400
    assert app.test_client().get("/coach/quellen.csv").status_code in (302, 401)
