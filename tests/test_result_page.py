"""The result page as a coach would publish it: diagnosis, three next steps, chart, call to action.

Everything else sits in collapsed <details>; the first screenful stays short for every profile;
sources are cited as a publication cites them; old results keep the layout and texts of their
content version.
"""

from __future__ import annotations

import re
import secrets
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from quiz import create_app
from quiz.app_state import get_content, get_content_version
from quiz.domain import result_layout
from quiz.domain.analysis import build_analysis, close_call_note
from quiz.domain.content import Content, load_content
from quiz.domain.scoring import sample_answers, score_answers
from quiz.extensions import db
from quiz.models import Response, utcnow
from quiz.site import settings as site_settings
from tests.conftest import base_config
from tests.factories import finished_response, with_extra

ROOT = Path(__file__).resolve().parents[1]
WORD_LIMIT = 350
# Seed 529 has the longest three next steps of the first 1,500 random profiles (267 words);
# seed 1 ties two dimensions at the lowest score.
LONGEST_STEPS_SEED = 529
# Random answers (with the extra page they get) whose bottleneck ties with another dimension.
TIE_SEED = 16
# Keys the stored analysis of content 2026.1 had (before the ranked next steps).
V1_ITEM_KEYS = [
    "kind",
    "dimension",
    "dimension_name",
    "title",
    "text",
    "sources",
    "score",
    "band",
    "band_label",
    "tip",
    "priority",
]


class _FirstScreen(HTMLParser):
    """The words inside <main> before its first <details>, the score table left out."""

    def __init__(self) -> None:
        super().__init__()
        self.in_main = False
        self.done = False
        self.skipping = 0
        self.words: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "main":
            self.in_main = True
        elif self.in_main and tag == "details":
            self.done = True
        elif (tag == "table" and "scores" in classes) or tag in ("script", "style"):
            self.skipping += 1
        if self.in_main and not self.done:
            self.tags.append(tag + "".join(f".{c}" for c in classes))

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.in_main = False
        elif tag in ("table", "script", "style") and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if self.in_main and not self.done and not self.skipping:
            self.words.extend(word for word in data.split() if re.search(r"\w", word))


def assert_no_file_names(content: Content, html: str) -> None:
    """Neither a source's file name nor the hash in it appears on a public page."""
    assert ".txt" not in html
    for source in content.sources:
        digest = source.file.removesuffix(".txt").partition("_")[2]
        assert digest and digest not in html, source.file


def first_screen(html: str) -> _FirstScreen:
    parser = _FirstScreen()
    parser.feed(html)
    return parser


def strong_answers(content: Content) -> dict[str, str]:
    """Best answers, but one answer per dimension a notch below: strong, yet not perfect."""
    answers = sample_answers(content, "best")
    seen: set[str] = set()
    for question in content.questions:
        if question.dimension in seen:
            continue
        notch = [c for c in content.choices(question.id) if c.applicable and c.points == 3]
        if notch:
            answers[question.id] = notch[0].id
            seen.add(question.dimension)
    return answers


def profiles(content: Content) -> dict[str, dict[str, str]]:
    """Every kind of result the page must keep short: best, worst, random, a tie, a strong one."""
    found = {
        "best": sample_answers(content, "best"),
        "worst": sample_answers(content, "worst"),
        "strong": strong_answers(content),
        "tie": sample_answers(content, "random", seed=TIE_SEED),
        "longest_steps": sample_answers(content, "random", seed=LONGEST_STEPS_SEED),
    }
    for seed in (2, 3, 5, 11):
        found[f"random_{seed}"] = sample_answers(content, "random", seed=seed)
    return found


def result_page(client: FlaskClient, app: Flask, answers: dict[str, str]) -> str:
    page = client.get(finished_response(app, answers).path)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def stored_analysis(app: Flask) -> list[dict[str, object]]:
    with app.app_context():
        rows = db.session.execute(select(Response.analysis).order_by(Response.id.desc())).scalars()
        return list(rows.first() or [])


@pytest.mark.dialect_independent
def test_first_screen_is_at_most_350_words_for_every_profile(
    client: FlaskClient, app: Flask
) -> None:
    content = get_content(app)
    counts = {}
    for name, answers in profiles(content).items():
        client.delete_cookie("quiz_draft")
        screen = first_screen(result_page(client, app, answers))
        assert screen.done, f"{name}: no collapsed section"
        counts[name] = len(screen.words)
    assert max(counts.values()) <= WORD_LIMIT, counts
    assert min(counts.values()) > 100, counts  # the diagnosis and steps are really there


@pytest.mark.dialect_independent
def test_first_screen_stays_short_over_many_random_profiles(app: Flask) -> None:
    """The same count over 300 random profiles, rendered straight from their analyses."""
    content = get_content(app)
    counts = {}
    with app.test_request_context("/"):
        for seed in range(300):
            answers = sample_answers(content, "random", seed=seed)
            result = score_answers(content, answers)
            analysis = [item.to_dict() for item in build_analysis(content, answers, result)]
            html = render_template(
                "quiz/result.html",
                response=SimpleNamespace(
                    first_name="Jana", bottleneck=result.bottleneck, id=1, result_token="t"
                ),
                rows=[],
                report=result_layout.build_layout(content, analysis, answers),
                token="t",
                chart_size=(1, 1),
            )
            counts[seed] = len(first_screen(html).words)
    assert max(counts.values()) <= WORD_LIMIT, max(counts.items(), key=lambda kv: kv[1])


@pytest.mark.dialect_independent
def test_diagnosis_then_steps_then_call_to_action_then_chart_then_details(
    client: FlaskClient, app: Flask
) -> None:
    content = get_content(app)
    with app.app_context():
        site_settings.update({"cta.url": "https://termine.example/"}, "test")
    html = result_page(client, app, sample_answers(content, "random", seed=TIE_SEED))
    order = [
        html.index('class="card diagnosis'),
        html.index('class="card next-steps"'),
        html.index('class="card cta"'),
        html.index('class="chart"'),
        html.index('class="scores"'),
        html.index("<details"),
    ]
    assert order == sorted(order)
    # The full analysis is collapsed, and needs no script to open.
    # (The one script, on every public page, only reports the page's height to a frame around it.)
    assert "<details open" not in html
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert len(scripts) == 1 and "/static/js/embed-height." in scripts[0], scripts
    details = html.count("<details")
    assert details == len(content.dimensions) + 2  # every dimension, two views, sources


@pytest.mark.dialect_independent
def test_the_three_steps_are_the_analysis_ranking_in_order(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    html = result_page(client, app, sample_answers(content, "random", seed=LONGEST_STEPS_SEED))
    steps = sorted(
        (item for item in stored_analysis(app) if item.get("next_step")),
        key=lambda item: int(str(item["next_step"])),
    )
    assert len(steps) == 3
    steps_html = html[html.index('class="card next-steps"') : html.index('class="chart"')]
    positions = [steps_html.index(str(escape(item["title"]))) for item in steps]
    assert positions == sorted(positions)
    # Long steps show their first sentences and link to the full text further down.
    for item in steps:
        assert str(escape(str(item["text"]).split(". ")[0])) in steps_html
    if "Weiterlesen" in steps_html:
        anchor = re.search(r'href="#(empfehlung-\d+)">Weiterlesen', steps_html)
        assert anchor and f'id="{anchor.group(1)}"' in html


@pytest.mark.dialect_independent
def test_diagnosis_names_the_answers_that_led_there(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = with_extra(content, sample_answers(content, "random", seed=3))
    result = score_answers(content, answers)
    html = result_page(client, app, answers)
    diagnosis = html[html.index('class="card diagnosis') : html.index('class="card next-steps"')]
    name = str(escape(content.dimension_by_id[result.bottleneck].name))
    assert f"Ihr größter Engpass: {name}" in diagnosis
    assert f"{result.scores[result.bottleneck]} von 100" in diagnosis
    [bottleneck] = [item for item in stored_analysis(app) if item["kind"] == "bottleneck"]
    weakest = str(bottleneck["evidence"][0])  # type: ignore[index]
    question = content.question_by_id[weakest]
    label = content.choice(weakest, answers[weakest]).label
    assert str(escape(question.text)) in diagnosis
    assert f"„{escape(label)}“" in diagnosis


@pytest.mark.dialect_independent
def test_ties_are_disclosed_with_the_rule_that_broke_them(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = with_extra(content, sample_answers(content, "random", seed=TIE_SEED))
    result = score_answers(content, answers)
    assert result.tied_with and result.bottleneck_acute and result.tie_reason == "weak_answers"
    html = result_page(client, app, answers)
    diagnosis = html[html.index('class="card diagnosis') : html.index('class="card next-steps"')]
    assert "Gleichauf mit" in diagnosis
    for dimension in result.tied_with:
        assert str(escape(content.dimension_by_id[dimension].name)) in diagnosis
    # Why it stands first, in words about the answers (content 2026.3's note), never tips.
    note = close_call_note(content, result)
    assert note is not None and "schwach beantwortet" in note
    assert str(escape(note)) in diagnosis
    assert "Tipps" not in diagnosis


@pytest.mark.dialect_independent
def test_no_acute_bottleneck_says_so_and_names_the_area_with_most_room(
    client: FlaskClient, app: Flask
) -> None:
    content = get_content(app)
    answers = strong_answers(content)
    result = score_answers(content, answers)
    assert not result.bottleneck_acute
    html = result_page(client, app, answers)
    assert "<h1" in html and "Kein akuter Engpass" in html
    assert "Ihr größter Engpass" not in html
    name = str(escape(content.dimension_by_id[result.bottleneck].name))
    assert f"Am meisten Luft nach oben: {name}" in html


@pytest.mark.dialect_independent
def test_sources_are_numbered_citations_without_file_names(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    html = result_page(client, app, sample_answers(content, "worst"))
    assert_no_file_names(content, html)
    listed = re.findall(r'<li id="quelle-(\d+)" value="\d+">([^<]+)</li>', html)
    assert [int(number) for number, _ in listed] == list(range(1, len(listed) + 1))
    citations = {str(escape(source.citation)) for source in content.sources}
    assert {text for _, text in listed} <= citations
    assert "Stefan Nitzsche: Management: Vom Umgang mit Kunden. Dr. Web, 2006" in html
    # Every reference points at an entry of the list.
    for number in set(re.findall(r'href="#quelle-(\d+)"', html)):
        assert f'id="quelle-{number}"' in html


def test_app_knows_every_content_version_and_falls_back_to_the_current(app: Flask) -> None:
    with app.app_context():
        current = get_content()
        assert get_content_version(current.version) is current
        assert get_content_version("2026.1").version == "2026.1"
        assert get_content_version("1999.9") is current
        assert get_content_version(None) is current


@pytest.fixture
def old_content_app(migrated_sqlite: Path, tmp_path: Path) -> Flask:
    """An app whose archived 2026.1 names a dimension and a band differently from 2026.2."""
    folder = tmp_path / "content"
    (folder / "archive").mkdir(parents=True)
    shutil.copy(ROOT / "content" / "questions.yaml", folder / "questions.yaml")
    archived = (ROOT / "content" / "archive" / "2026.1.yaml").read_text(encoding="utf-8")
    archived = archived.replace('name: "Schmerzgrenze"', 'name: "Ihre Schmerzgrenze 2026.1"')
    archived = archived.replace('label: "kritisch"', 'label: "kritisch (2026.1)"')
    (folder / "archive" / "2026.1.yaml").write_text(archived, encoding="utf-8")
    database = tmp_path / "old.sqlite3"
    shutil.copy(migrated_sqlite, database)
    config = base_config(f"sqlite:///{database}", tmp_path)
    return create_app({**config, "QUIZ_CONTENT_PATH": str(folder / "questions.yaml")})


def store_v1_result(app: Flask, answers: dict[str, str]) -> str:
    """A finished response as content 2026.1 stored it (no next steps); returns its token."""
    with app.app_context():
        old = get_content_version("2026.1")
        assert old.version == "2026.1"
        result = score_answers(old, answers)
        analysis = [
            {key: item.to_dict()[key] for key in V1_ITEM_KEYS}
            for item in build_analysis(old, answers, result)
        ]
        for item in analysis:
            item["sources"] = [
                {"file": s["file"], "title": s["title"], "section": s["section"]}
                for s in item["sources"]
            ]
        token = secrets.token_urlsafe(32)
        response = Response(
            draft_token=secrets.token_urlsafe(24),
            result_token=token,
            status="finished",
            content_version=old.version,
            content_hash=old.sha256,
            finished_at=utcnow(),
            steps_completed=len(old.pages) + 1,
            step_times={},
            bands=dict(result.bands),
            bottleneck=result.bottleneck,
            runner_up=result.runner_up,
            analysis=analysis,
            **{f"score_{d}": s for d, s in result.scores.items()},
        )
        db.session.add(response)
        db.session.commit()
        return token


def test_old_result_renders_its_old_layout_and_texts(old_content_app: Flask) -> None:
    app = old_content_app
    with app.app_context():
        old = get_content_version("2026.1")
    answers = sample_answers(old, "worst")
    token = store_v1_result(app, answers)
    html = app.test_client().get(f"/r/{token}").get_data(as_text=True)

    # The first layout: bottleneck card, every tip, every other dimension, nothing collapsed.
    assert "Was Sie diese Woche tun können" in html
    assert "Tipps zu Ihren Antworten" in html
    assert "Die anderen Bereiche, vom schwächsten zum stärksten" in html
    assert "<details" not in html
    # The texts and names of 2026.1, not of the current content.
    current = get_content(app)
    result = score_answers(old, answers)
    headline = old.dimension_by_id[result.bottleneck].band(result.bands[result.bottleneck]).headline
    current_headlines = {band.headline for d in current.dimensions for band in d.bands}
    assert headline not in current_headlines
    assert str(escape(headline)) in html
    assert '<th scope="row">Ihre Schmerzgrenze 2026.1</th>' in html
    assert "<td>kritisch (2026.1)</td>" in html
    # Sources cited by title (and author where the article names one), never by file name.
    assert_no_file_names(old, html)
    assert "Stefan Nitzsche: Management: Vom Umgang mit Kunden. Dr. Web, 2006" in html


def test_a_source_cited_for_several_sections_is_numbered_once() -> None:
    content = load_content(ROOT / "content" / "questions.yaml")
    nitzsche, lekies = content.sources[4], content.sources[0]
    item = {
        "kind": "bottleneck",
        "dimension": "werte",
        "dimension_name": "Werte & Soft Skills",
        "title": "Titel",
        "text": "Text.",
        "score": 10,
        "band_label": "kritisch",
        "sources": [
            {"file": nitzsche.file, "title": nitzsche.title, "section": "Aufrichtigkeit"},
            {"file": nitzsche.file, "title": nitzsche.title, "section": "Vertrauen"},
            {"file": lekies.file, "title": lekies.title, "section": None},
        ],
    }
    built = result_layout.build_layout(content, [item], {})
    [section] = built.sections
    assert section.advice is not None
    assert section.advice.cited == ((1, ("Aufrichtigkeit", "Vertrauen")), (2, ()))
    assert [c.text for c in built.citations] == [nitzsche.citation, lekies.citation]
