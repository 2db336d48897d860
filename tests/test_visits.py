"""Landing-page visits without cookies, the funnel per source, and its counters (issue 25)."""

from __future__ import annotations

import random
import weakref
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from quiz import caches
from quiz.app_state import get_consent_texts, get_content
from quiz.counters import funnel_read
from quiz.counters.models import FunnelCounter
from quiz.domain import traffic
from quiz.domain.scoring import sample_answers
from quiz.experiments import lifecycle
from quiz.extensions import db
from quiz.models import Response
from quiz.taker import responses, rights, visits
from tests import quizflow
from tests.factories import with_extra

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140 Safari/537.36"


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    ("method", "headers", "counted"),
    [
        ("GET", {"User-Agent": BROWSER}, True),
        ("HEAD", {"User-Agent": BROWSER}, False),
        ("GET", {}, False),
        ("GET", {"User-Agent": "  "}, False),
        ("GET", {"User-Agent": BROWSER, "Sec-Purpose": "prefetch"}, False),
        ("GET", {"User-Agent": BROWSER, "Sec-Purpose": "prefetch;prerender"}, False),
        ("GET", {"User-Agent": BROWSER, "Purpose": "prefetch"}, False),
        ("GET", {"User-Agent": BROWSER, "X-Moz": "prefetch"}, False),
        ("GET", {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}, False),
        ("GET", {"User-Agent": "facebookexternalhit/1.1"}, False),
        ("GET", {"User-Agent": "curl/8.5.0"}, False),
        ("GET", {"User-Agent": "python-requests/2.32"}, False),
        ("GET", {"User-Agent": "Mozilla/5.0 HeadlessChrome/140"}, False),
        ("GET", {"User-Agent": "Mozilla/5.0 (compatible; YandexBot/3.0)"}, False),
        ("GET", {"User-Agent": "Mozilla/5.0 (Linux; Android 10; CUBOT X19) Chrome/140"}, True),
        ("GET", {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Mobile/15E148"}, True),
    ],
)
def test_which_views_count_as_visits(method: str, headers: dict[str, str], counted: bool) -> None:
    assert traffic.counts_as_visit(method, headers) is counted


@pytest.mark.dialect_independent
def test_the_shortcut_for_plain_agents_says_what_the_bot_pattern_says() -> None:
    """An ASCII agent without any of the pattern's words skips the pattern (issue 22's speed):
    every alternative of the pattern, in any case and amid browser text, still counts as a bot,
    and non-ASCII agents (where case-insensitive matching differs from lower-casing) meet the
    pattern itself."""
    alternatives = traffic.BOT_PATTERN.pattern.split("|")
    words = [
        alternative.removeprefix("(?<!cu)").removesuffix(r"\b") for alternative in alternatives
    ]
    rng = random.Random(22)
    agents = [BROWSER, "Mozilla/5.0 (Linux; Android 10; CUBOT X19)", "ſpider/1.0", "Kurl/1", "abot"]
    for word in words:
        for _ in range(5):
            cased = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
            agents += [cased, f"{BROWSER} {cased}", f"Mozilla/5.0 ({cased}/2.1)", f"x{cased}y"]
    for agent in agents:
        expected = traffic.BOT_PATTERN.search(agent) is None
        assert traffic.counts_as_visit("GET", {"User-Agent": agent}) is expected, agent


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    ("referrer", "host"),
    [
        (None, ""),
        ("", ""),
        ("https://www.LinkedIn.com/feed/?x=1", "linkedin.com"),
        ("https://l.facebook.com:443/l.php?u=secret", "l.facebook.com"),
        ("http://example.org./", "example.org"),
        ("https://quiz.test/r/token", ""),  # our own site
        ("not a url", ""),
        ("http://[::1", ""),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
    ],
)
def test_referrer_hosts_are_normalised(referrer: str | None, host: str) -> None:
    assert traffic.referrer_host(referrer, "quiz.test") == host


def browser(app: Flask) -> FlaskClient:
    """A test client that sends a browser's User-Agent, as a visitor's does."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER
    return client


def _visits(app: Flask) -> dict[tuple[str, str, str, str], int]:
    with app.app_context():
        rows = funnel_read.by_source(funnel_read.Narrowed())
    return {source: counts["visit"] for source, counts in rows.items() if counts["visit"]}


def test_landing_views_are_counted_per_source_without_a_cookie(app: Flask) -> None:
    client = app.test_client()
    query = "/?utm_source=linkedin&utm_medium=social&utm_campaign=herbst"
    for _ in range(3):
        page = client.get(
            query, headers={"User-Agent": BROWSER, "Referer": "https://www.linkedin.com/feed/"}
        )
        assert page.status_code == 200
        # Only the session cookie the start form's CSRF token needs (as before): none to count.
        cookies = {c.split("=", 1)[0] for c in page.headers.getlist("Set-Cookie")}
        assert cookies <= {app.config.get("SESSION_COOKIE_NAME", "session")}
    client.get("/", headers={"User-Agent": BROWSER})
    # Fetched ahead, robots and tools: not counted.
    client.get("/", headers={"User-Agent": BROWSER, "Sec-Purpose": "prefetch"})
    client.get("/", headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    client.get("/", headers={"User-Agent": ""})
    assert _visits(app) == {
        ("linkedin", "social", "herbst", "linkedin.com"): 3,
        ("", "", "", ""): 1,
    }
    with app.app_context():
        stored = db.session.execute(select(FunnelCounter.__table__)).all()
    # Only counters: the day, the source, the content version, nothing of the visitor.
    assert {row.metric for row in stored} == {"visit"}
    assert {row.day for row in stored} == {datetime.now(UTC).date()}


def test_a_returning_taker_is_no_new_visit(app: Flask) -> None:
    client = browser(app)
    assert quizflow.start(client, "?utm_source=podcast").status_code == 302
    client.get("/?utm_source=podcast")
    client.get("/?utm_source=podcast")
    assert _visits(app) == {("podcast", "", "", ""): 1}


def test_the_start_keeps_the_source_and_host_of_the_visit(app: Flask) -> None:
    client = browser(app)
    client.get("/", headers={"Referer": "https://news.ycombinator.com/item?id=1"})
    landing = client.get(
        "/?utm_source=hn&utm_campaign=launch",
        headers={"Referer": "https://news.ycombinator.com/item?id=1"},
    )
    fields = dict(quizflow.HIDDEN.findall(landing.text))
    client.post("/quiz/start", data={"csrf_token": quizflow.csrf_token(landing), **fields})
    with app.app_context():
        rows = funnel_read.by_source(funnel_read.Narrowed())
        host = db.session.scalar(select(Response.referrer_host))
    assert host == "news.ycombinator.com"
    assert rows[("hn", "", "launch", "news.ycombinator.com")] == {
        "visit": 1,
        "start": 1,
        "finish": 0,
        "optin": 0,
    }
    assert rows[("", "", "", "news.ycombinator.com")]["visit"] == 1


def test_funnel_counters_equal_a_recount_after_random_visits_finishes_and_deletions(
    app: Flask, client: FlaskClient
) -> None:
    rng = random.Random(25)
    with app.app_context():
        content = get_content()
        # With the answers of an extra page too, should these answers call for one.
        answers = with_extra(content, sample_answers(content, "random", seed=4), 4)
        experiment = lifecycle.create(
            "Überschrift",
            "landing_headline",
            "start",
            [lifecycle.VariantInput("A", "Eins"), lifecycle.VariantInput("B", "Zwei")],
            "test",
        )
        lifecycle.change(experiment, "started", "test")
    for _ in range(30):
        source = rng.choice(["", "linkedin", "newsletter"])
        client.get(f"/?utm_source={source}", headers={"User-Agent": BROWSER})
    ids = []
    with app.app_context():
        for n in range(24):
            tracking = {
                "utm_source": rng.choice([None, "linkedin", "newsletter"]),
                "utm_campaign": rng.choice([None, "herbst"]),
                "referrer": rng.choice([None, "https://www.google.com/", "https://t.co/x"]),
            }
            draft = responses.start_draft(content, tracking, {experiment: n % 2})
            ids.append(draft.id)
            if rng.random() < 0.3:
                continue  # a drop-out
            due: tuple[str, ...] = ()
            for step, page in enumerate(content.pages, start=1):
                due = responses.save_step(content, draft.id, page, step, answers, completed=True)
            if due:
                extra = responses.extra_page_of(content, due)
                responses.save_step(content, draft.id, extra, None, answers, completed=True)
            lead = responses.Lead(
                first_name=None,
                email=f"k{n}@example.com",
                consent_data=True,
                consent_marketing=rng.random() < 0.6,
            )
            responses.finish(content, draft.id, lead, get_consent_texts())
            if lead.consent_marketing and rng.random() < 0.7:
                rights.confirm_optin(draft.id)
                if rng.random() < 0.3:
                    rights.unsubscribe(draft.id)
        for response_id in rng.sample(ids, 8):
            rights.delete_data(response_id)
    result = app.test_cli_runner().invoke(args=["rebuild-rollups", "--check"])
    assert result.exit_code == 0, result.output
    assert "differing before the rebuild: 0" in result.output
    with app.app_context():
        totals = funnel_read.totals(funnel_read.Narrowed())
        left = db.session.scalars(select(Response.id)).all()
        counts = funnel_read.experiment_counts(experiment)
    assert totals["visit"] == 30
    assert totals["start"] == len(left) == 16
    assert sum(by_metric["start"] for by_metric in counts.values()) == 16
    assert sum(by_metric["visit"] for by_metric in counts.values()) == 30


def test_the_kept_landing_page_carries_each_visitors_own_fields(app: Flask) -> None:
    first = browser(app).get('/?utm_source="><script>x</script>&utm_campaign=herbst').text
    second = browser(app).get("/?utm_source=podcast").text
    assert '<input type="hidden" name="utm_campaign" value="herbst">' in first
    assert "<script>x" not in first and "&#34;&gt;&lt;script&gt;" in first
    assert 'name="utm_campaign"' not in second
    assert '<input type="hidden" name="utm_source" value="podcast">' in second
    assert quizflow.csrf_token(first) != quizflow.csrf_token(second)
    assert len(caches.of(app).landing_pages) == 1


@pytest.mark.parametrize(
    ("tracking", "campaign_only"),
    [
        ({}, True),
        ({"utm_source": "linkedin", "utm_campaign": "herbst"}, True),
        ({"referrer": "https://www.linkedin.com/"}, True),
        ({"referrer": "https://www.linkedin.com"}, True),
        ({"referrer": "http://blog.example:8080/"}, True),
        ({"referrer": "https://www.linkedin.com/feed/"}, False),
        ({"referrer": "https://mail.example/?to=kundin@example.org"}, False),
        ({"referrer": "https://example.org/#kundin"}, False),
        ({"referrer": "https://kundin:geheim@example.org/"}, False),
        ({"utm_source": "newsletter", "utm_content": "kundin@example.org"}, False),
        ({"utm_term": "engpass"}, False),
    ],
)
def test_only_campaign_and_origin_values_count_as_campaign_only(
    tracking: dict[str, str], campaign_only: bool
) -> None:
    assert traffic.is_campaign_only(tracking) is campaign_only


@pytest.mark.dialect_independent
def test_a_visitors_full_referrer_or_free_text_stays_in_no_workers_memory(app: Flask) -> None:
    """What derives from a campaign and an origin is kept per worker; a full referrer URL or
    utm_content is used for its own view only (counted by host, carried to the start in the
    page's hidden fields, which are built for each view), and never kept for the next."""
    visits._campaign_source.cache_clear()
    private = "https://mail.example/inbox?to=kundin@example.org"
    page = browser(app).get("/?utm_source=newsletter", headers={"Referer": private})
    assert f'name="referrer" value="{private}"' in page.text  # carried to the start as before
    browser(app).get("/?utm_source=podcast&utm_content=kundin@example.org")
    assert visits._campaign_source.cache_info().currsize == 0
    browser(app).get(
        "/?utm_source=linkedin&utm_campaign=herbst",
        headers={"Referer": "https://www.linkedin.com/"},
    )
    assert visits._campaign_source.cache_info().currsize == 1
    assert _visits(app) == {
        ("newsletter", "", "", "mail.example"): 1,
        ("podcast", "", "", ""): 1,
        ("linkedin", "", "herbst", "linkedin.com"): 1,
    }


@pytest.mark.app_config(QUIZ_VISIT_FLUSH_SECONDS=3600)
def test_visits_wait_in_the_workers_buffer_and_are_written_in_one_go(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The exit writes every live app's buffer: here only this test's, not those earlier tests
    # of this process left behind (a test of a database outage keeps its unwritten visits),
    # which would reach the PostgreSQL schema the next test starts from.
    only_this_app = weakref.WeakSet([app])
    monkeypatch.setattr(visits, "_APPS", only_this_app)
    for _ in range(3):
        browser(app).get("/?utm_source=newsletter")
    assert _visits(app) == {}  # not yet due: kept in this worker's buffer
    with app.app_context():
        assert visits.write_pending(app) == 3
        assert visits.write_pending(app) == 0
    assert _visits(app) == {("newsletter", "", "", ""): 3}
    browser(app).get("/?utm_source=newsletter")
    visits._write_at_exit()  # the worker exits: what it still holds is written
    assert _visits(app) == {("newsletter", "", "", ""): 4}
