"""The tailored analysis: consistent with every answer, ranked into three next steps.

Rules are proven on the fixture content (tests/fixtures/mini.yaml), whose question ids stay
put; the properties also run over random profiles on the real content, whose questions change.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quiz.domain.analysis import analyse, build_analysis, next_steps
from quiz.domain.content import Content, load_content
from quiz.domain.next_step_ranking import MAX_TIPS, MAX_TIPS_CLOSE
from quiz.domain.scoring import sample_answers, score_answers
from tests.conftest import FIXTURES, REAL_CONTENT
from tests.test_scoring import answer_sets

REAL = load_content(REAL_CONTENT)
MINI = load_content(FIXTURES / "mini.yaml")
BOTH = pytest.mark.parametrize("content", [REAL, MINI], ids=["real", "mini"])

# Someone without firm limits: no written rules, answers at the weekend, takes every call.
NO_LIMITS = {"g1": "nein", "g2": "ja", "g3": "eher_nein", "g4": "ran"}
# Someone who undersells: no price rises, caves in on discounts, bills by the hour.
UNDERPRICED = {"p1": "nein", "p2": "sofort", "p3": "ja", "p4": "eher_nein"}
# Keys every stored item had before this analysis grew; stored results and templates use them.
STORED_KEYS = {
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
}


def profile(content: Content, overrides: dict[str, str]) -> dict[str, str]:
    """Strong answers everywhere except where the profile says otherwise."""
    return sample_answers(content, "best") | overrides


def test_bottleneck_comes_first_then_dimensions_weakest_up_then_tips() -> None:
    answers = profile(MINI, NO_LIMITS | {"w1": "eher_nein"})
    result = score_answers(MINI, answers)
    items = build_analysis(MINI, answers, result)
    kinds = [item.kind for item in items]
    count = len(MINI.dimensions)
    assert kinds[0] == "bottleneck"
    assert kinds[1:count] == ["dimension"] * (count - 1)
    assert set(kinds[count:]) == {"tip"}
    scores = [item.score for item in items[:count]]
    assert scores == sorted(scores)
    assert items[0].dimension == result.bottleneck == "schmerzgrenze"
    band = MINI.dimension_by_id["schmerzgrenze"].band("kritisch")
    assert items[0].text.endswith(band.advice)
    # The other dimensions in one sentence each: their band's summary.
    for item in items[1:count]:
        summary = MINI.dimension_by_id[item.dimension].band(item.band or "").summary
        assert item.text == summary


@BOTH
def test_every_item_names_a_seed_article(content: Content) -> None:
    answers = sample_answers(content, "worst")
    items = build_analysis(content, answers, score_answers(content, answers))
    for item in items:
        assert item.sources
        for source in item.sources:
            assert source.file in content.source_by_file
            assert source.title == content.source_by_file[source.file].title
            assert source.citation == content.source_by_file[source.file].citation


def test_tips_fire_on_the_answers_that_trigger_them() -> None:
    answers = profile(MINI, {"g1": "nein"})
    fired = {tip.id for tip in MINI.triggered_tips(answers)}
    assert "regeln_aufschreiben" in fired
    # The combination tip needs both: an instant discount AND hourly billing.
    answers |= {"p2": "sofort"}
    assert "rabatt_und_stunden" not in {tip.id for tip in MINI.triggered_tips(answers)}
    both = answers | {"p3": "eher_ja"}
    assert "rabatt_und_stunden" in {tip.id for tip in MINI.triggered_tips(both)}


def test_triggered_by_names_the_questions_that_fired_the_tip() -> None:
    answers = profile(MINI, {"p2": "sofort", "p3": "ja", "g2": "ja"})
    items = {item.tip: item for item in build_analysis(MINI, answers, score_answers(MINI, answers))}
    # `all`: every clause's question; `any`: only the clauses that hold (g2, not g4).
    assert items["rabatt_und_stunden"].triggered_by == ("p2", "p3")
    assert items["grenzen_wochenende"].triggered_by == ("g2",)
    assert all(item.triggered_by == () for item in items.values() if item.kind != "tip")


def test_best_answers_trigger_no_corrective_tip() -> None:
    # Tips correct habits; a profile strong everywhere gets at most perspectives notes.
    answers = sample_answers(MINI, "best")
    assert {tip.kind for tip in MINI.triggered_tips(answers)} == {"perspectives"}


def test_tips_go_to_the_bottleneck_and_the_dimensions_close_to_it_weakest_first() -> None:
    answers = profile(MINI, NO_LIMITS | UNDERPRICED | {"k1": "eher_nein", "d3": "schwach"})
    result = score_answers(MINI, answers)
    assert (result.bottleneck, result.tied_with) == ("schmerzgrenze", ("preise",))
    tips = [item for item in build_analysis(MINI, answers, result) if item.kind == "tip"]
    # kapazitaet and distanz have weak answers too, but they are far from the bottleneck: their
    # headlines name them, and no tip of theirs takes room.
    assert {tip.dimension for tip in tips} == {"schmerzgrenze", "preise"}
    per_dimension = Counter(tip.dimension for tip in tips)
    assert per_dimension["schmerzgrenze"] <= MAX_TIPS
    assert per_dimension["preise"] <= max(MAX_TIPS_CLOSE, 1)
    rank = {dimension: index for index, dimension in enumerate(result.ranking)}
    assert [rank[tip.dimension] for tip in tips] == sorted(rank[tip.dimension] for tip in tips)
    titles = {item.dimension: item.title for item in build_analysis(MINI, answers, result)}
    assert "Distanz Punkt drei" in titles["distanz"]
    assert "Kapazität Punkt eins" in titles["kapazitaet"]


def test_contrasting_profiles_get_different_bottlenecks_and_analyses() -> None:
    no_limits = profile(MINI, NO_LIMITS)
    underpriced = profile(MINI, UNDERPRICED)
    first = score_answers(MINI, no_limits)
    second = score_answers(MINI, underpriced)
    assert (first.bottleneck, second.bottleneck) == ("schmerzgrenze", "preise")
    first_items = build_analysis(MINI, no_limits, first)
    second_items = build_analysis(MINI, underpriced, second)
    assert first_items[0].title != second_items[0].title
    first_tips = {item.tip for item in first_items if item.kind == "tip"}
    second_tips = {item.tip for item in second_items if item.kind == "tip"}
    # Each gets the tips on its own weakest answers, MAX_TIPS of them, nothing of the other's.
    assert first_tips == {"regeln_aufschreiben", "grenzen_wochenende"}
    assert second_tips == {"rabatt_und_stunden", "rabatt_nicht_sofort"}
    assert first.confidence == second.confidence == "klar"


def test_next_steps_follow_the_least_strong_answers_led_by_the_bottleneck() -> None:
    # preise is the clear bottleneck (5 %); distanz (d1 at 0) and werte (w1 at 1) are far off.
    answers = profile(MINI, UNDERPRICED | {"d1": "nein", "w1": "eher_nein"})
    result = score_answers(MINI, answers)
    assert (result.bottleneck, result.confidence) == ("preise", "klar")
    steps = next_steps(MINI, answers, result)
    # The bottleneck's tips on its answers at 0 points (p2, p3; p1 weighs double but its tip
    # has the lower priority), then its band advice: a clear bottleneck may fill all three.
    assert [(s.kind, s.tip or s.dimension) for s in steps] == [
        ("tip", "rabatt_und_stunden"),
        ("tip", "rabatt_nicht_sofort"),
        ("bottleneck", "preise"),
    ]
    assert [s.next_step for s in steps] == [1, 2, 3]


def test_a_close_call_takes_its_steps_from_more_than_one_dimension() -> None:
    answers = profile(MINI, NO_LIMITS | UNDERPRICED)
    result = score_answers(MINI, answers)
    assert result.confidence == "knapp"
    steps = next_steps(MINI, answers, result)
    assert steps[0].dimension == result.bottleneck
    assert steps[1].dimension == next(
        d for d in (*result.tied_with, *result.close_to) if d != result.bottleneck
    )


def test_strong_profile_gets_steps_from_its_least_strong_answers_not_the_file_order() -> None:
    # Every answer at its best but two at 3 of 4 points (l3, d3) and one at 2 (k1): nothing is
    # weak, every band on top. The steps are the tips on exactly those answers, k1 first.
    answers = profile(MINI, {"l3": "eher_gut", "d3": "eher_gut", "k1": "teils"})
    result = score_answers(MINI, answers)
    assert not result.bottleneck_acute and result.bottleneck == "kapazitaet"
    steps = next_steps(MINI, answers, result)
    assert [s.kind for s in steps] == ["tip", "tip", "tip"]
    assert {q for s in steps for q in s.triggered_by} == {"k1", "l3", "d3"}
    assert steps[0].triggered_by == ("k1",)


def test_diagnosis_names_the_answers_that_led_there() -> None:
    answers = profile(MINI, {"g1": "eher_nein", "g4": "ran", "g3": "eher_ja"})
    analysis = analyse(MINI, answers, score_answers(MINI, answers))
    diagnosis = analysis.diagnosis
    assert (diagnosis.dimension, diagnosis.acute, diagnosis.tied_with) == (
        "schmerzgrenze",
        True,
        (),
    )
    assert diagnosis.evidence == ("g4", "g1", "g3")  # weakest first
    first = analysis.items[0]
    assert (first.acute, first.evidence, first.triggered_by) == (True, ("g4", "g1", "g3"), ())


def test_analysis_groups_dimensions_and_lists_those_without_a_score() -> None:
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")
    for qid in ("w1", "w2"):
        text = text.replace(f"{{id: {qid}, ", f'{{id: {qid}, not_applicable: "Nie", ', 1)
    from quiz.domain.content import parse_content

    content = parse_content(text.encode(), "mini.yaml")
    answers = profile(
        content,
        {
            "w1": "nicht_zutreffend",
            "w2": "nicht_zutreffend",
            "w4": "nicht_zutreffend",
            "g1": "nein",
        },
    )
    analysis = analyse(content, answers, score_answers(content, answers))
    views = {view.dimension: view for view in analysis.dimensions}
    assert views["werte"].insufficient and views["werte"].score is None
    assert views["werte"].advice is None
    assert [view.dimension for view in analysis.dimensions][-1] == "werte"
    assert "werte" not in {item.dimension for item in analysis.items if item.kind != "tip"}
    assert [t.tip for t in views["schmerzgrenze"].tips] == ["regeln_aufschreiben"]
    # k4 = gut fires the perspectives note of kapazitaet, a dimension far from the bottleneck:
    # like its tips, the note stays out of the (short) analysis.
    assert "zwei_sichtweisen" in {tip.id for tip in content.triggered_tips(answers)}
    assert analysis.perspectives == ()
    assert len(analysis.next_steps) == 3


def test_next_steps_are_the_stored_items_marked_as_next_steps(content: Content) -> None:
    # One ranking: the grouped view, `next_steps` and the stored flat list agree.
    answers = sample_answers(content, "worst")
    result = score_answers(content, answers)
    marked = sorted(
        (item for item in build_analysis(content, answers, result) if item.next_step),
        key=lambda item: item.next_step or 0,
    )
    assert next_steps(content, answers, result) == tuple(marked)
    assert analyse(content, answers, result).next_steps == tuple(marked)


@BOTH
def test_analysis_serialises_to_the_stored_shape(content: Content) -> None:
    answers = sample_answers(content, "random", seed=3)
    result = score_answers(content, answers)
    data = analyse(content, answers, result).to_dicts()
    assert data == [item.to_dict() for item in build_analysis(content, answers, result)]
    assert data[0]["kind"] == "bottleneck"
    for item in data:
        assert set(item) >= STORED_KEYS | {"triggered_by", "next_step"}
        assert isinstance(item["sources"], list)
        assert set(item["sources"][0]) >= {"file", "title", "section", "citation"}
        assert isinstance(item["triggered_by"], list)
    assert sorted(item["next_step"] for item in data if item["next_step"]) == [1, 2, 3]


# --- properties over random profiles -------------------------------------------------------


@BOTH
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_band_texts_claim_no_habit_and_habits_come_only_from_triggered_tips(
    content: Content, data: st.DataObject
) -> None:
    answers = data.draw(answer_sets(content))
    result = score_answers(content, answers)
    for item in build_analysis(content, answers, result):
        if item.kind == "tip":
            tip = next(tip for tip in content.tips if tip.id == item.tip)
            assert (item.title, item.text) == (tip.title, tip.text)
            assert item.triggered_by
            for question in item.triggered_by:
                clauses = [c for c in tip.when.clauses if c.question == question]
                assert any(answers[question] in c.answers for c in clauses)
        else:
            band = content.dimension_by_id[item.dimension].band(result.bands[item.dimension])
            assert item.title in (band.headline, band.title(None)) or item.exceptions
            text = band.advice if item.kind == "bottleneck" else band.summary
            assert item.text == (f"{item.note}\n\n{text}" if item.note else text)
            assert item.triggered_by == ()


@BOTH
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_always_exactly_three_next_steps_led_by_the_bottleneck(
    content: Content, data: st.DataObject
) -> None:
    answers = data.draw(answer_sets(content))
    result = score_answers(content, answers)
    analysis = analyse(content, answers, result)
    assert len(analysis.next_steps) == 3
    assert [step.next_step for step in analysis.next_steps] == [1, 2, 3]
    assert len({id(step) for step in analysis.next_steps}) == 3
    assert analysis.next_steps[0].dimension == result.bottleneck
    assert analysis.diagnosis.dimension == result.bottleneck
    assert analysis.diagnosis.acute == result.bottleneck_acute
    assert analysis.diagnosis.tied_with == result.tied_with


def _weak_single_answers(content: Content) -> list[tuple[str, str]]:
    """Every (question, weak answer) pair, extra questions included."""
    return [
        (question.id, choice.id)
        for question in content.all_questions
        for choice in content.choices(question.id)
        if choice.weak
    ]


@pytest.mark.parametrize(
    ("content", "question", "answer"),
    [(MINI, q, a) for q, a in _weak_single_answers(MINI)]
    + [(REAL, q, a) for q, a in _weak_single_answers(REAL)],
    ids=lambda value: value if isinstance(value, str) else value.version,
)
def test_every_weak_answer_is_addressed(content: Content, question: str, answer: str) -> None:
    answers = profile(content, {question: answer})
    items = build_analysis(content, answers, score_answers(content, answers))
    assert any(question in item.triggered_by for item in items)
