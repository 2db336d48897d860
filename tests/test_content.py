"""The content loader: the real file validates, and every kind of mistake is reported on its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from quiz.domain.content import (
    NOT_APPLICABLE_ID,
    SEED_ARTICLES,
    Content,
    ContentError,
    load_content,
    load_versions,
    parse_content,
)
from tests.conftest import FIXTURES, REAL_CONTENT

ARCHIVED_2026_1 = REAL_CONTENT.parent / "archive" / "2026.1.yaml"

MINI = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the n-th line containing `needle`."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def errors_for(text: str, *, current: bool = False) -> list[str]:
    """The errors the loader reports for this text (which must be broken)."""
    with pytest.raises(ContentError) as caught:
        parse_content(text.encode("utf-8"), "questions.yaml", current=current)
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
    expected = line_of(broken, "test-2")
    assert error.startswith(f"questions.yaml:{expected}:")
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
        MINI,
        "{question: g1, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: g9, answers: [nein]}",
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


def test_archived_2026_1_breaks_the_current_rules_but_loads_as_archived() -> None:
    # The version the issue measured: weak answers without advice, dimensions without a key tip.
    with pytest.raises(ContentError, match="has no priority-3 tip"):
        load_content(ARCHIVED_2026_1)
    assert load_content(ARCHIVED_2026_1, current=False).version == "2026.1"


def test_real_content_file_exists_where_the_app_looks() -> None:
    assert REAL_CONTENT.is_file()


# --- not applicable, sources, the rules of a current version, archived versions -------------


def test_fixture_passes_the_rules_of_a_current_version() -> None:
    content = parse_content(MINI.encode(), "mini.yaml", current=True)
    assert len(content.questions) == 24


def test_likert_not_applicable_adds_an_unscored_option_after_the_scale(
    mini_content: Content,
) -> None:
    choices = mini_content.choices("w4")
    assert [c.id for c in choices[:-1]] == [point.id for point in mini_content.scale]
    assert choices[-1].id == NOT_APPLICABLE_ID
    assert choices[-1].label == "Kam bei mir noch nicht vor"
    assert not choices[-1].applicable and not choices[-1].weak
    assert all(c.applicable for c in mini_content.choices("w1"))


def test_choice_not_applicable_option_is_unscored(mini_content: Content) -> None:
    by_id = {c.id: c for c in mini_content.choices("k4")}
    assert not by_id["kam_nicht_vor"].applicable
    assert by_id["schwach"].weak and not by_id["gut"].weak


def test_not_applicable_option_with_a_score_is_refused() -> None:
    broken = replace_once(
        MINI,
        '{id: kam_nicht_vor, label: "Kam bei mir noch nicht vor", not_applicable: true}',
        '{id: kam_nicht_vor, label: "Kam bei mir noch nicht vor", not_applicable: true, score: 2}',
    )
    errors = errors_for(broken)
    expected = line_of(broken, "not_applicable: true, score: 2")
    assert f"questions.yaml:{expected}: a not-applicable option has no score" in errors


def test_a_second_not_applicable_option_is_refused() -> None:
    broken = replace_once(
        MINI,
        '{id: gut, label: "Gut.", score: 4}\n          - {id: kam_nicht_vor',
        '{id: gut, label: "Gut.", score: 4}\n          - {id: nie, label: "Nie.", '
        "not_applicable: true}\n          - {id: kam_nicht_vor",
    )
    errors = errors_for(broken)
    expected = line_of(broken, "{id: kam_nicht_vor")
    assert f"questions.yaml:{expected}: a question has at most one not-applicable option" in errors


def test_not_applicable_label_on_a_choice_question_is_refused() -> None:
    broken = replace_once(
        MINI,
        '        text: "Kapazität: ein zweiter Fall."',
        '        text: "Kapazität: ein zweiter Fall."\n        not_applicable: "Nie"',
    )
    errors = errors_for(broken)
    expected = line_of(broken, 'not_applicable: "Nie"')
    assert any(e.startswith(f"questions.yaml:{expected}: a choice question offers") for e in errors)


def test_scale_may_not_use_the_not_applicable_id() -> None:
    broken = replace_once(MINI, "{id: teils, label:", f"{{id: {NOT_APPLICABLE_ID}, label:")
    errors = errors_for(broken)
    expected = line_of(broken, f"{{id: {NOT_APPLICABLE_ID}, label:")
    assert (
        f"questions.yaml:{expected}: 'nicht_zutreffend' is reserved for the not-applicable answer"
        in errors
    )


def test_tip_may_name_not_applicable_only_where_it_is_offered() -> None:
    broken = replace_once(
        MINI,
        "{question: g3, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: g3, answers: [nicht_zutreffend]}",
    )
    errors = errors_for(broken)
    expected = line_of(broken, "answers: [nicht_zutreffend]")
    assert f"questions.yaml:{expected}: question 'g3' has no option 'nicht_zutreffend'" in errors
    fine = replace_once(
        MINI,
        "{question: w4, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: w4, answers: [nein, eher_nein, teils, eher_ja, nicht_zutreffend]}",
    )
    assert parse_content(fine.encode(), "mini.yaml", current=True).version == "test-1"


def test_source_citation_uses_what_the_article_states(mini_content: Content) -> None:
    stated = mini_content.source_by_file["001_8fb8151b7bf0414a.txt"]
    assert stated.citation == "Erika Muster: Kunden aus der Hölle. Testblog, 2020"
    bare = mini_content.source_by_file["000_7c60a66375e4c519.txt"]
    assert bare.citation == "Im Umgang mit Kunden Grenzen setzen: Drei Gründe"
    assert ".txt" not in stated.citation + bare.citation


def test_weak_answer_without_a_tip_is_reported_on_its_question() -> None:
    broken = replace_once(
        MINI,
        "{question: g3, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: g3, answers: [nein, teils, eher_ja]}",
    )
    errors = errors_for(broken, current=True)
    expected = line_of(broken, "{id: g3,")
    assert errors == [
        f"questions.yaml:{expected}: question 'g3': the weak answer 'eher_nein' "
        "(1 points) is not addressed by any tip on its own (with the best answer everywhere else)"
    ]
    # An archived version was written before this rule and still loads.
    assert parse_content(broken.encode(), "old.yaml", current=False).version == "test-1"


def test_weak_reverse_keyed_answer_is_the_agreeing_one() -> None:
    broken = replace_once(
        MINI,
        "{question: g2, answers: [ja, eher_ja, teils, eher_nein]}",
        "{question: g2, answers: [ja, teils, eher_nein]}",
    )
    errors = errors_for(broken, current=True)
    assert any("question 'g2': the weak answer 'eher_ja' (1 points)" in e for e in errors)


def test_weak_scenario_option_without_a_tip_is_reported() -> None:
    broken = replace_once(
        MINI, "{question: k4, answers: [schwach]}", "{question: k1, answers: [nein]}"
    )
    errors = errors_for(broken, current=True)
    expected = line_of(broken, "- id: k4")
    assert (
        f"questions.yaml:{expected}: question 'k4': the weak answer 'schwach' (0 points) is not addressed by any tip on its own (with the best answer everywhere else)"
        in errors
    )


def test_weak_answer_named_only_beside_another_weak_answer_is_not_addressed() -> None:
    # rabatt_und_stunden names p2 = sofort, but fires only together with a weak p3: a taker weak
    # only on p2 would hear nothing about it.
    broken = replace_once(
        MINI,
        "        - {question: p2, answers: [sofort, fragen]}\n",
        "        - {question: p2, answers: [fragen]}\n",
    )
    errors = errors_for(broken, current=True)
    expected = line_of(broken, "- id: p2")
    assert errors == [
        f"questions.yaml:{expected}: question 'p2': the weak answer 'sofort' (0 points) "
        "is not addressed by any tip on its own (with the best answer everywhere else)"
    ]


def test_dimension_without_a_priority_3_tip_is_reported() -> None:
    broken = replace_once(
        MINI,
        "  - id: preise_kalkulieren\n    dimension: preise\n    priority: 3",
        "  - id: preise_kalkulieren\n    dimension: preise\n    priority: 2",
    )
    errors = errors_for(broken, current=True)
    expected = line_of(broken, "  - id: preise")
    assert errors == [f"questions.yaml:{expected}: dimension 'preise' has no priority-3 tip"]


def _with_extra_page(text: str) -> str:
    """The fixture with its third page asked twice (ids renamed): 40 questions."""
    start = text.index("  - id: seite_drei")
    end = text.index("tips:\n")
    page = text[start:end].replace("seite_drei", "seite_vier")
    for prefix in "wldk":
        for number in "1234":
            page = page.replace(f"id: {prefix}{number}", f"id: {prefix}{number}x")
    return text[:end] + page + text[end:]


def test_question_count_outside_24_to_36_is_reported() -> None:
    broken = _with_extra_page(MINI)
    errors = errors_for(broken, current=True)
    expected = line_of(broken, "pages:")
    assert f"questions.yaml:{expected}: the quiz has 40 questions, needs 24 to 36" in errors


def test_too_few_always_scored_dimensions_is_reported() -> None:
    text = MINI
    for qid in ("w1", "w2", "l1", "l2", "l4", "d1", "d2", "d4", "k1", "k2"):
        text = replace_once(text, f"{{id: {qid}, ", f'{{id: {qid}, not_applicable: "Nie", ')
    errors = errors_for(text, current=True)
    assert any(
        "at least 3 dimensions must always get a score" in e and "found 2" in e for e in errors
    )


def test_load_versions_maps_every_archived_version_and_the_current_one(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "2026.1.yaml").write_bytes(ARCHIVED_2026_1.read_bytes())
    (archive / "test-0.yaml").write_text(
        replace_once(MINI, 'version: "test-1"', 'version: "test-0"'), encoding="utf-8"
    )
    current = tmp_path / "questions.yaml"
    current.write_text(MINI, encoding="utf-8")
    versions = load_versions(current, archive)
    assert sorted(versions) == ["2026.1", "test-0", "test-1"]
    assert versions["test-1"].sha256 == parse_content(MINI.encode(), "x").sha256
    # The archived 2026.1 file keeps its hash, so results stored with it stay attributable.
    assert versions["2026.1"].sha256 == load_content(ARCHIVED_2026_1, current=False).sha256


def test_load_versions_applies_the_current_rules_only_to_the_current_file(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    old = replace_once(
        MINI,
        "{question: g3, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: g3, answers: [nein, teils, eher_ja]}",
    )
    (archive / "old.yaml").write_text(replace_once(old, '"test-1"', '"test-0"'), encoding="utf-8")
    current = tmp_path / "questions.yaml"
    current.write_text(old, encoding="utf-8")
    with pytest.raises(ContentError, match="weak answer 'eher_nein'") as caught:
        load_versions(current, archive)
    assert all(str(current) in error for error in caught.value.errors)
    current.write_text(MINI, encoding="utf-8")
    assert sorted(load_versions(current, archive)) == ["test-0", "test-1"]


def test_load_versions_refuses_a_version_used_twice(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "copy.yaml").write_text(MINI, encoding="utf-8")
    current = tmp_path / "questions.yaml"
    current.write_text(MINI, encoding="utf-8")
    with pytest.raises(ContentError, match="version 'test-1' is also used by"):
        load_versions(current, archive)


# --- the rules of issue 23: consistent by construction, a bank of extra questions --------------


def only_error(text: str) -> str:
    """The one error the current rules report for this text."""
    errors = errors_for(text, current=True)
    assert len(errors) == 1, errors
    return errors[0]


def test_a_mid_answer_without_a_tip_is_reported() -> None:
    # Not weak, but below full points: a strong profile's next steps need a tip for it too.
    broken = replace_once(
        MINI,
        "{question: g3, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: g3, answers: [nein, eher_nein, teils]}",
    )
    assert only_error(broken) == (
        f"questions.yaml:{line_of(broken, '{id: g3,')}: question 'g3': the answer 'eher_ja' "
        "(3 points) is not addressed by any tip on its own (with the best answer everywhere else)"
    )


def test_advice_fired_by_a_best_answer_is_reported() -> None:
    broken = replace_once(
        MINI,
        "{question: g1, answers: [nein, eher_nein, teils, eher_ja]}",
        "{question: g1, answers: [nein, eher_nein, teils, eher_ja, ja]}",
    )
    assert only_error(broken) == (
        f"questions.yaml:{line_of(broken, 'eher_ja, ja]')}: tip 'regeln_aufschreiben' fires on "
        "'ja', the best answer of 'g1'"
    )


def test_a_perspectives_note_may_follow_a_best_answer(mini_content: Content) -> None:
    note = next(tip for tip in mini_content.tips if tip.kind == "perspectives")
    assert "gut" in note.when.clauses[0].answers  # k4's best answer


def test_a_band_naming_a_habit_is_reported() -> None:
    broken = replace_once(
        MINI, 'advice: "Ergänzen Sie Ihre Regeln."', 'advice: "Setzen Sie jedes Zahlungsziel fest."'
    )
    assert only_error(broken) == (
        f"questions.yaml:{line_of(broken, 'jedes Zahlungsziel')}: band schmerzgrenze.ausbaufaehig "
        "names a habit ('g1'); only a tip tied to the answer may"
    )


def test_a_tip_naming_the_habit_of_another_question_is_reported() -> None:
    broken = replace_once(
        MINI,
        'text: "Zu Ihrer Antwort: schmerzgrenze_kennen."',
        'text: "Rufen Sie am Sonntag zurück."',
    )
    assert only_error(broken) == (
        f"questions.yaml:{line_of(broken, 'am Sonntag zurück')}: tip 'schmerzgrenze_kennen' names "
        "the habit of 'g4', which does not alone fire it"
    )


def test_a_tip_fired_by_either_of_two_questions_names_neither_habit() -> None:
    # grenzen_wochenende fires on g2 or g4: a taker may have answered the other one at its best.
    broken = replace_once(
        MINI, 'text: "Zu Ihrer Antwort: grenzen_wochenende."', 'text: "Am Sonntag ist frei."'
    )
    assert "names the habit of 'g4', which does not alone fire it" in only_error(broken)


def test_a_question_needs_a_topic_and_keywords() -> None:
    broken = replace_once(MINI, ', topic: "Zahlungsziele", keywords: ["Zahlungsziel"]', "")
    assert only_error(broken) == (
        f"questions.yaml:{line_of(broken, '{id: g1,')}: question 'g1' needs a topic and at least "
        "one keyword"
    )


def test_a_band_needs_a_weak_headline_naming_the_exceptions_and_a_summary() -> None:
    broken = replace_once(MINI, 'headline_weak: "Grenzen fehlen, außer: {weak}", ', "")
    assert "band schmerzgrenze.kritisch needs a headline_weak" in only_error(broken)
    broken = replace_once(
        MINI, '"Grenzen fehlen, außer: {weak}"', '"Grenzen fehlen, außer: {welche}"'
    )
    assert "headline_weak must name the weak answers once, as {weak}" in only_error(broken)
    broken = replace_once(
        MINI, 'summary: "Grenzen fehlen (Kurzfassung)."', 'summary: "Eins. Zwei."'
    )
    assert "a summary is one sentence" in only_error(broken)


def test_a_sentence_in_two_texts_is_reported() -> None:
    broken = replace_once(
        MINI, 'text: "Zu Ihrer Antwort: werte_vier."', 'text: "Zu Ihrer Antwort: werte_haupt."'
    )
    assert "the sentence 'Zu Ihrer Antwort: werte_haupt.' stands in 2 texts" in only_error(broken)


def test_result_texts_use_their_placeholders() -> None:
    broken = replace_once(
        MINI, 'close: "{bottleneck} liegt nur knapp vor {names}."', 'close: "Knapp."'
    )
    assert "result_texts.close must use {bottleneck}, {names}" in only_error(broken)


def _with_bank(text: str, per_dimension: int, sources: bool = True) -> str:
    """The fixture with a bank of extra statements (and a tip for each)."""
    refs = ", sources: [{file: 000_7c60a66375e4c519.txt}]" if sources else ""
    questions, tips = [], []
    for dimension in ("schmerzgrenze", "preise", "werte", "leadership", "distanz", "kapazitaet"):
        for number in range(per_dimension):
            qid = f"x_{dimension[:3]}_{number}"
            questions.append(
                f'    - {{id: {qid}, dimension: {dimension}, type: likert, text: "Zusatz {qid}.", '
                f'topic: "Zusatz {qid}", keywords: ["Merkmal {qid}"]{refs}}}'
            )
            tips.append(
                f"  - id: t_{qid}\n    dimension: {dimension}\n    priority: 1\n    when:\n"
                f"      any:\n        - {{question: {qid}, answers: [nein, eher_nein, teils, eher_ja]}}\n"
                f'    title: "Tipp {qid}"\n    text: "Zu {qid}."\n'
                "    sources: [{file: 000_7c60a66375e4c519.txt}]"
            )
    bank = 'extra:\n  id: zusatz\n  title: "Zusatz"\n  questions:\n' + "\n".join(questions)
    return text.replace("tips:\n", bank + "\ntips:\n", 1) + "\n".join(tips) + "\n"


def test_a_bank_of_extra_questions_loads_apart_from_the_core() -> None:
    content = parse_content(_with_bank(MINI, 8).encode(), "bank.yaml", current=True)
    assert len(content.questions) == 24
    assert len(content.extra_questions) == 48
    assert content.extra_questions_of("preise")[0].id == "x_pre_0"
    assert "x_pre_0" in content.question_by_id and "x_pre_0" not in content.page_of_question


def test_a_small_bank_or_one_without_sources_is_reported() -> None:
    errors = errors_for(_with_bank(MINI, 7), current=True)
    assert any("dimension 'preise' has 7 extra questions, needs at least 8" in e for e in errors)
    errors = errors_for(_with_bank(MINI, 8, sources=False), current=True)
    assert any("extra question 'x_sch_0' names no sources" in e for e in errors)


def test_an_extra_question_may_not_reuse_a_core_id() -> None:
    broken = _with_bank(MINI, 8).replace("{id: x_sch_0,", "{id: g1,", 1)
    errors = errors_for(broken)
    assert any("duplicate question id 'g1'" in e for e in errors)


def test_archived_2026_2_loads_with_the_rules_of_its_time() -> None:
    archived = REAL_CONTENT.parent / "archive" / "2026.2.yaml"
    with pytest.raises(ContentError, match="needs a headline_weak"):
        load_content(archived)
    assert load_content(archived, current=False).version == "2026.2"
