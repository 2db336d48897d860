"""The content loader: the real file validates, and every kind of mistake is reported on its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from quiz.content import SEED_ARTICLES, Content, ContentError, load_content, parse_content
from tests.conftest import FIXTURES, REAL_CONTENT

MINI = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the n-th line containing `needle`."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def errors_for(text: str) -> list[str]:
    """The errors the loader reports for this text (which must be broken)."""
    with pytest.raises(ContentError) as caught:
        parse_content(text.encode("utf-8"), "questions.yaml")
    return list(caught.value.errors)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def test_real_content_validates(content: Content) -> None:
    assert len(content.dimensions) >= 4
    assert 24 <= len(content.questions) <= 36
    ids = {dimension.id for dimension in content.dimensions}
    assert {"schmerzgrenze", "werte", "preise", "leadership"} <= ids
    for dimension in content.dimensions:
        questions = content.questions_of(dimension.id)
        assert len(questions) >= 4, dimension.id
    assert {source.file for source in content.sources} == SEED_ARTICLES


def test_real_content_mixes_scenarios_and_reverse_keyed_statements(content: Content) -> None:
    types = [question.type for question in content.questions]
    assert types.count("choice") >= 6
    assert types.count("likert") >= 6
    assert any(question.reverse for question in content.questions)


def test_real_content_names_both_sides_where_the_articles_disagree(content: Content) -> None:
    files_per_tip = [{ref.file for ref in tip.sources} for tip in content.tips]
    # Ending by email (001) versus in person (002); Pareto (000) versus no A/B/C ranking (004).
    assert any({"001_8fb8151b7bf0414a.txt", "002_cc3518c87732680e.txt"} <= f for f in files_per_tip)
    assert any({"000_7c60a66375e4c519.txt", "004_e192ff1e4f8e0c2b.txt"} <= f for f in files_per_tip)


def test_hash_identifies_the_exact_file(tmp_path: Path) -> None:
    first = parse_content(MINI.encode(), "a.yaml")
    same = parse_content(MINI.encode(), "b.yaml")
    edited = parse_content(MINI.replace("Seite eins", "Seite 1").encode(), "c.yaml")
    assert first.sha256 == same.sha256
    assert len(first.sha256) == 64
    assert edited.sha256 != first.sha256


def test_loaded_objects_are_immutable(mini_content: Content) -> None:
    with pytest.raises(Exception, match="frozen"):
        mini_content.dimensions[0].name = "Anders"  # type: ignore[misc]


def test_yaml_syntax_error_reports_its_line() -> None:
    broken = replace_once(MINI, 'title: "Seite zwei"', 'title: "Seite zwei')
    errors = errors_for(broken)
    assert len(errors) == 1
    assert errors[0].startswith("questions.yaml:")


def test_duplicate_key_is_reported_with_its_line() -> None:
    broken = replace_once(MINI, 'version: "test-1"', 'version: "test-1"\nversion: "test-2"')
    (error,) = errors_for(broken)
    assert error.startswith("questions.yaml:3:")
    assert "duplicate" in error


def test_unknown_key_is_reported_with_its_line() -> None:
    broken = replace_once(
        MINI, '    title: "Seite eins"', '    title: "Seite eins"\n    colour: red'
    )
    errors = errors_for(broken)
    expected = line_of(broken, "colour: red")
    assert any(e.startswith(f"questions.yaml:{expected}:") and "colour" in e for e in errors)


def test_duplicate_question_id() -> None:
    broken = replace_once(MINI, "{id: g3,", "{id: g1,")
    errors = errors_for(broken)
    expected = line_of(broken, "{id: g1,", 2)
    assert f"questions.yaml:{expected}: duplicate question id 'g1'" in errors


def test_unknown_dimension() -> None:
    broken = replace_once(MINI, "{id: g3, dimension: schmerzgrenze", "{id: g3, dimension: zeit")
    errors = errors_for(broken)
    expected = line_of(broken, "dimension: zeit")
    assert f"questions.yaml:{expected}: unknown dimension 'zeit'" in errors


def test_option_without_score() -> None:
    broken = replace_once(
        MINI, '{id: fragen, label: "Ich frage nach dem Grund.", score: 2}', "{id: fragen, label: x}"
    )
    errors = errors_for(broken)
    expected = line_of(broken, "{id: fragen, label: x}")
    assert any(e.startswith(f"questions.yaml:{expected}:") and "score" in e for e in errors)


def test_option_score_out_of_range() -> None:
    broken = replace_once(MINI, "score: 2}", "score: 7}")
    errors = errors_for(broken)
    expected = line_of(broken, "score: 7")
    assert any(
        e.startswith(f"questions.yaml:{expected}:") and "less than or equal to 4" in e
        for e in errors
    )


def test_choice_question_must_span_the_scale() -> None:
    broken = replace_once(
        MINI,
        '{id: montag, label: "Ich rufe Montag zurück.", score: 4}',
        '{id: montag, label: "Ich rufe Montag zurück.", score: 3}',
    )
    errors = errors_for(broken)
    assert any("needs an option scoring 0 and one scoring 4" in e for e in errors)


def test_band_gap_is_reported_on_the_band() -> None:
    broken = replace_once(MINI, "min: 40, max: 69", "min: 45, max: 69")
    errors = errors_for(broken)
    expected = line_of(broken, "min: 45")
    assert f"questions.yaml:{expected}: gap in the bands: no band covers 40..44" in errors


def test_band_overlap_is_reported_on_the_band() -> None:
    broken = replace_once(MINI, "min: 70, max: 100", "min: 60, max: 100")
    errors = errors_for(broken)
    expected = line_of(broken, "min: 60")
    assert f"questions.yaml:{expected}: bands overlap: 60..69 is covered twice" in errors


def test_bands_must_reach_100() -> None:
    broken = replace_once(MINI, "min: 70, max: 100", "min: 70, max: 99")
    errors = errors_for(broken)
    assert any("the last band must end at 100, not 99" in e for e in errors)


def test_tip_naming_unknown_question_and_option() -> None:
    broken = replace_once(
        MINI, "{question: g1, answers: [nein, eher_nein]}", "{question: g9, answers: [nein]}"
    )
    broken = replace_once(
        broken, "{question: p2, answers: [sofort]}", "{question: p2, answers: [vielleicht]}"
    )
    errors = errors_for(broken)
    assert f"questions.yaml:{line_of(broken, 'question: g9')}: unknown question 'g9'" in errors
    assert (
        f"questions.yaml:{line_of(broken, 'vielleicht')}: question 'p2' has no option 'vielleicht'"
        in errors
    )


def test_source_outside_the_seed_articles() -> None:
    broken = replace_once(
        MINI, "  - file: 001_8fb8151b7bf0414a.txt\n", "  - file: 999_unknown.txt\n"
    )
    errors = errors_for(broken)
    expected = line_of(broken, "999_unknown.txt")
    assert any(
        e.startswith(f"questions.yaml:{expected}: unknown source '999_unknown.txt'") for e in errors
    )
    # Every advice that cited the removed article is now a dangling reference, each on its line.
    dangling = [e for e in errors if "is not listed under top-level sources" in e]
    assert len(dangling) >= 3


def test_empty_text() -> None:
    broken = replace_once(MINI, 'advice: "Erhöhen Sie Ihre Preise."', 'advice: "   "')
    errors = errors_for(broken)
    expected = line_of(broken, 'advice: "   "')
    assert any(e.startswith(f"questions.yaml:{expected}:") and "advice" in e for e in errors)


def test_dimension_with_too_few_questions() -> None:
    broken = replace_once(MINI, "{id: p4, dimension: preise,", "{id: p4, dimension: schmerzgrenze,")
    errors = errors_for(broken)
    assert any("dimension 'preise' has 3 questions, needs at least 4" in e for e in errors)


def test_all_errors_are_reported_at_once_in_line_order() -> None:
    broken = replace_once(MINI, "{id: g3, dimension: schmerzgrenze", "{id: g3, dimension: zeit")
    broken = replace_once(broken, "score: 2}", "score: 9}")
    broken = replace_once(broken, "min: 40, max: 69", "min: 41, max: 69")
    errors = errors_for(broken)
    assert len(errors) >= 3
    lines = [int(error.split(":")[1]) for error in errors]
    assert lines == sorted(lines)


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="cannot read file"):
        load_content(tmp_path / "missing.yaml")


def test_real_content_file_exists_where_the_app_looks() -> None:
    assert REAL_CONTENT.is_file()
