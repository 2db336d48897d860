"""The analysis never contradicts the taker: properties over random, "best + one flip" and
"worst + one flip" profiles (issue 23, item 1), on the real content (core and extra questions)
and on the fixture.

What must hold for every profile:
- no advice is fired by a best answer (a perspectives note, which weighs two views, may be);
- a dimension with any answer below full points never shows its clean headline: the headline
  names its least strong answers, weak ones first;
- no text of the analysis names the habit (a question's keywords) of a question answered at its
  best, except a perspectives note;
- no sentence stands twice in one analysis; never "Luft nach oben" in the analysis' own words;
- three next steps, led by the bottleneck, from two dimensions or more when it is close.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quiz.domain.analysis import MAX_NAMED, analyse
from quiz.domain.analysis_items import Analysis
from quiz.domain.content import Content, load_content
from quiz.domain.content_rules import named_habits, sentences
from quiz.domain.result_layout import build_layout
from quiz.domain.scoring import ScoreResult, sample_answers, score_answers
from tests.conftest import FIXTURES, REAL_CONTENT

REAL = load_content(REAL_CONTENT)
MINI = load_content(FIXTURES / "mini.yaml")


def flips(content: Content, base: str) -> list[tuple[str, str]]:
    """Every (question, answer) that differs from the base profile's, core and extra."""
    pairs = []
    for question in content.all_questions:
        choices = [c for c in content.choices(question.id) if c.applicable]
        top = max(c.points for c in choices) if base == "best" else min(c.points for c in choices)
        pairs += [(question.id, c.id) for c in choices if c.points != top]
    return pairs


def best_or_worst(content: Content, base: str, question: str, answer: str) -> dict[str, str]:
    """The core sample plus one changed answer (an extra question is simply added)."""
    return sample_answers(content, base) | {question: answer}  # type: ignore[arg-type]


def check_consistency(content: Content, answers: dict[str, str]) -> tuple[ScoreResult, Analysis]:
    """Assert every property of the module docstring for one profile."""
    result = score_answers(content, answers)
    analysis = analyse(content, answers, result)
    best = {q for q, a in answers.items() if content.choice(q, a).points == content.best_points(q)}
    best = {q for q in best if content.choice(q, answers[q]).applicable}
    for item in analysis.items:
        if item.kind == "tip":
            if item.tip_kind == "tip":
                assert not set(item.triggered_by) & best, (item.tip, item.triggered_by)
            else:
                continue
        named = named_habits(content, f"{item.title} {item.text}")
        assert not named & best, (item.tip or item.dimension, sorted(named & best))
        assert "Luft nach oben" not in item.text
    for item in analysis.items:
        if item.kind == "tip":
            continue
        band = content.dimension_by_id[item.dimension].band(item.band or "")
        below = [
            q
            for q in answers
            if content.question_by_id[q].dimension == item.dimension
            and content.choice(q, answers[q]).applicable
            and q not in best
        ]
        if not below:
            assert item.title == band.headline
            assert item.exceptions == ()
            continue
        assert item.title != band.headline, (item.dimension, item.title)
        assert 1 <= len(item.exceptions) <= MAX_NAMED
        assert set(item.exceptions) <= set(below)
        topics = [content.question_by_id[q].topic or "" for q in item.exceptions]
        assert all(topic in item.title for topic in topics)

        def lacking(q: str) -> tuple[bool, int]:
            choice = content.choice(q, answers[q])
            return (choice.weak, content.best_points(q) - choice.points)

        # The named ones are the least strong: none left out is weaker than one named.
        assert min(lacking(q) for q in item.exceptions) >= max(
            (lacking(q) for q in below if q not in item.exceptions), default=(False, 0)
        )
    said = [s for item in analysis.items for s in sentences(f"{item.title}. {item.text}")]
    assert len(said) == len(set(said)), [s for s in said if said.count(s) > 1]
    steps = analysis.next_steps
    assert [step.next_step for step in steps] == [1, 2, 3]
    assert steps[0].dimension == result.bottleneck
    if result.confidence == "knapp":
        assert len({step.dimension for step in steps}) >= 2
    report = build_layout(content, analysis.to_dicts(), answers)
    assert report.full_marks == (result.scores[result.bottleneck] == 100)
    return result, analysis


@pytest.mark.parametrize(
    ("content", "question", "answer"),
    [(REAL, q, a) for q, a in flips(REAL, "best")] + [(MINI, q, a) for q, a in flips(MINI, "best")],
    ids=lambda value: value if isinstance(value, str) else value.version,
)
def test_best_plus_one_flip_is_consistent(content: Content, question: str, answer: str) -> None:
    answers = best_or_worst(content, "best", question, answer)
    result, analysis = check_consistency(content, answers)
    dimension = content.question_by_id[question].dimension
    # The one answer below full points makes its dimension the bottleneck, named in its headline.
    assert result.bottleneck == dimension
    assert analysis.items[0].exceptions == (question,)
    if content.choice(question, answer).weak:
        assert analysis.diagnosis.acute or result.bands[dimension] == "stark"


@pytest.mark.parametrize(
    ("content", "question", "answer"),
    [(REAL, q, a) for q, a in flips(REAL, "worst")]
    + [(MINI, q, a) for q, a in flips(MINI, "worst")],
    ids=lambda value: value if isinstance(value, str) else value.version,
)
def test_worst_plus_one_flip_is_consistent(content: Content, question: str, answer: str) -> None:
    answers = best_or_worst(content, "worst", question, answer)
    check_consistency(content, answers)


def profiles(content: Content) -> st.SearchStrategy[dict[str, str]]:
    """Any core answers (not-applicable ones included) and any subset of extra answers."""
    core = {q.id: st.sampled_from([c.id for c in content.choices(q.id)]) for q in content.questions}
    extra = {
        q.id: st.sampled_from([c.id for c in content.choices(q.id)])
        for q in content.extra_questions
    }
    return st.fixed_dictionaries(core, optional=extra)


@pytest.mark.parametrize("content", [REAL, MINI], ids=["real", "mini"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_profiles_are_consistent(content: Content, data: st.DataObject) -> None:
    check_consistency(content, data.draw(profiles(content)))


def test_the_issues_examples_no_longer_contradict() -> None:
    # „Souverän in der Kundenführung“ beside „Souverän statt hektisch reagieren“ after fixing
    # everything at once; „Zeit bewusst eingesetzt“ above a diagnosis quoting the opposite;
    # evening mail checks under „Gelassen …“.
    for question, answer, clean in (
        ("le_souveraen", "sofort_nacharbeiten", "Souverän in der Zusammenarbeit"),
        ("tr_trennung_art", "auslaufen", "Klar und fair, auch am Ende"),
        ("ka_ueberlastet", "spaeter_liefern", "Zeit bewusst eingesetzt"),
        ("di_feierabend", "trifft_voll_zu", "Gelassen, auch in vollen Wochen"),
    ):
        answers = sample_answers(REAL, "best") | {question: answer}
        _, analysis = check_consistency(REAL, answers)
        head = analysis.items[0]
        assert head.title != clean
        assert (REAL.question_by_id[question].topic or "") in head.title
