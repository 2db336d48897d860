"""The stored analysis laid out for a reader: how sure a result is, and why a tie went one way.

Results of content 2026.3 store their close call (confidence, close_to, the note) and the reason a
tie was broken; older results are explained by replaying the rule of their time.
"""

from __future__ import annotations

from quiz.domain.analysis import analyse
from quiz.domain.content import load_content
from quiz.domain.result_layout import build_layout
from quiz.domain.scoring import sample_answers, score_answers
from tests.conftest import FIXTURES, REAL_CONTENT

REAL = load_content(REAL_CONTENT)
MINI = load_content(FIXTURES / "mini.yaml")
ARCHIVED_2026_2 = load_content(REAL_CONTENT.parent / "archive" / "2026.2.yaml", current=False)


def layout(content, answers):  # type: ignore[no-untyped-def]
    result = score_answers(content, answers)
    analysis = analyse(content, answers, result)
    return result, analysis, build_layout(content, analysis.to_dicts(), answers)


def test_a_close_result_carries_its_note_and_the_names_close_to_it() -> None:
    answers = next(
        a
        for seed in range(300)
        if (r := score_answers(REAL, a := sample_answers(REAL, "random", seed))).close_to
        and not r.tied_with
    )
    result, analysis, report = layout(REAL, answers)
    assert report.confidence == "knapp"
    names = {d.id: d.name for d in REAL.dimensions}
    assert report.close_names == tuple(names[d] for d in result.close_to)
    assert report.note and report.note == analysis.diagnosis.note
    assert f"{names[result.bottleneck]} liegt als Engpass nur knapp vor" in report.note
    # The note opens the bottleneck's text, so today's page shows it with the advice.
    assert report.sections[0].advice is not None
    assert str(report.sections[0].advice.item["text"]).startswith(report.note)


def test_a_clear_result_has_no_note() -> None:
    answers = sample_answers(REAL, "best") | {"sg_zahlungsregeln": "trifft_nicht_zu"}
    result, analysis, report = layout(REAL, answers)
    assert result.confidence == "klar"
    assert (report.confidence, report.close_names, report.note) == ("klar", (), None)
    assert analysis.items[0].text == REAL.dimension_by_id["schmerzgrenze"].bands[-1].advice


def test_a_tie_explains_itself_only_with_a_sentence_that_is_true() -> None:
    # Broken by weak answers: the page's sentence about weak answers applies.
    weak_tie = sample_answers(MINI, "best") | {"g1": "nein", "p2": "fragen", "p4": "teils"}
    result, _, report = layout(MINI, weak_tie)
    assert result.tied_with and result.tie_reason == "weak_answers"
    assert report.tie_rule == "weak_answers"
    # Broken by the answers as a whole: no page sentence fits, the stored note says it.
    whole = sample_answers(MINI, "best") | {
        "g1": "teils",
        "g2": "nein",
        "g3": "teils",
        "g4": "ran",
        "p1": "eher_nein",
        "p2": "fragen",
        "p3": "teils",
        "p4": "teils",
    }
    result, _, report = layout(MINI, whole)
    assert result.tie_reason == "answers"
    assert report.tie_rule is None
    assert report.note and "Kaum ein Unterschied" in report.note


def test_results_stored_before_replay_the_tie_rule_of_their_time() -> None:
    answers = sample_answers(ARCHIVED_2026_2, "best")
    result, analysis, _ = layout(ARCHIVED_2026_2, answers)
    stored = analysis.to_dicts()
    for key in ("tie_reason", "confidence", "close_to", "note", "exceptions", "uncertainty"):
        for item in stored:
            item.pop(key, None)
    report = build_layout(ARCHIVED_2026_2, stored, answers)
    assert result.tied_with
    assert report.tie_rule == "content_order"  # every answer at its best: the file order
    assert (report.confidence, report.close_names, report.note) == (None, (), None)


def test_full_marks_are_never_room_to_grow() -> None:
    _, _, best = layout(REAL, sample_answers(REAL, "best"))
    assert best.full_marks and not best.acute
    _, _, almost = layout(REAL, sample_answers(REAL, "best") | {"le_feedback": "trifft_eher_zu"})
    assert not almost.full_marks
