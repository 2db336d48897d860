"""The tailored analysis: order, triggered tips, sources, and two contrasting profiles."""

from __future__ import annotations

from quiz.analysis import build_analysis, top_tips, triggered_tips
from quiz.content import Content
from quiz.scoring import sample_answers, score_answers

# A freelancer who cannot say no: no written rules, waits for late payments, always reachable,
# takes on everything. Prices are handled well.
ALWAYS_AVAILABLE = {
    "sg_regeln_schriftlich": "trifft_nicht_zu",
    "sg_spaete_zahlung": "abwarten",
    "sg_abgesagter_termin": "neuer_termin",
    "sg_nogos": "trifft_eher_nicht_zu",
    "sg_hoffnung": "trifft_voll_zu",
    "di_wochenende": "trifft_voll_zu",
    "di_sonntagsanruf": "rangehen",
    "di_ausgleich": "trifft_eher_nicht_zu",
    "di_gespraech_vorbereiten": "teils",
    "ka_ueberlastet": "alles_annehmen",
}

# A consultant with firm boundaries who undersells: no price rise in years, hourly billing,
# padded quotes, caves in on discounts.
UNDERPRICED = {
    "pr_preiserhoehung": "nichts",
    "pr_festpreis": "trifft_nicht_zu",
    "pr_puffer": "trifft_voll_zu",
    "pr_vergleich": "nachlass",
    "pr_rabatt": "trifft_nicht_zu",
    "we_korrekturschleife": "machen_grummeln",
}


def profile(content: Content, overrides: dict[str, str]) -> dict[str, str]:
    """Strong answers everywhere except where the profile says otherwise."""
    return sample_answers(content, "best") | overrides


def test_bottleneck_comes_first_then_dimensions_weakest_up_then_tips(content: Content) -> None:
    answers = profile(content, ALWAYS_AVAILABLE)
    result = score_answers(content, answers)
    items = build_analysis(content, answers, result)
    kinds = [item.kind for item in items]
    dimension_count = len(content.dimensions)
    assert kinds[0] == "bottleneck"
    assert kinds[1:dimension_count] == ["dimension"] * (dimension_count - 1)
    assert set(kinds[dimension_count:]) == {"tip"}
    scores = [item.score for item in items[:dimension_count]]
    assert scores == sorted(scores)
    assert items[0].dimension == result.bottleneck
    assert (
        items[0].text
        == content.dimension_by_id[result.bottleneck].band(result.bands[result.bottleneck]).advice
    )


def test_every_item_names_a_seed_article(content: Content) -> None:
    answers = sample_answers(content, "worst")
    items = build_analysis(content, answers, score_answers(content, answers))
    for item in items:
        assert item.sources
        for source in item.sources:
            assert source.file in content.source_by_file
            assert source.title == content.source_by_file[source.file].title


def test_tips_fire_on_the_answers_that_trigger_them(content: Content) -> None:
    answers = profile(content, {"sg_regeln_schriftlich": "trifft_nicht_zu"})
    fired = {tip.id for tip in triggered_tips(content, answers)}
    assert "regeln_schriftlich" in fired
    # The combination tip needs both: no written rules AND patience with late payers.
    assert "regeln_und_spaete_zahlung" not in fired
    both = answers | {"sg_spaete_zahlung": "abwarten"}
    assert "regeln_und_spaete_zahlung" in {tip.id for tip in triggered_tips(content, both)}


def test_best_answers_trigger_no_tip(content: Content) -> None:
    # Tips are corrective; someone who answers strongly everywhere gets none.
    answers = sample_answers(content, "best")
    assert {tip.id for tip in triggered_tips(content, answers)} <= {"trennung_mail_oder_gespraech"}


def test_tips_of_the_bottleneck_come_first(content: Content) -> None:
    answers = profile(content, ALWAYS_AVAILABLE | UNDERPRICED)
    result = score_answers(content, answers)
    tips = [item for item in build_analysis(content, answers, result) if item.kind == "tip"]
    rank = {dimension: index for index, dimension in enumerate(result.ranking)}
    assert [rank[tip.dimension] for tip in tips] == sorted(rank[tip.dimension] for tip in tips)


def test_top_tips_prefer_priority(content: Content) -> None:
    answers = sample_answers(content, "worst")
    result = score_answers(content, answers)
    top = top_tips(content, answers, result, count=3)
    assert len(top) == 3
    assert all(tip.priority == 3 for tip in top)


def test_contrasting_profiles_get_different_bottlenecks_and_analyses(content: Content) -> None:
    available = profile(content, ALWAYS_AVAILABLE)
    underpriced = profile(content, UNDERPRICED)
    first = score_answers(content, available)
    second = score_answers(content, underpriced)
    assert first.bottleneck in {"schmerzgrenze", "distanz"}
    assert second.bottleneck == "preise"

    first_items = build_analysis(content, available, first)
    second_items = build_analysis(content, underpriced, second)
    assert first_items[0].title != second_items[0].title
    first_tips = {item.tip for item in first_items if item.kind == "tip"}
    second_tips = {item.tip for item in second_items if item.kind == "tip"}
    assert {
        "regeln_und_spaete_zahlung",
        "kernzeiten_feierabend",
        "auslastung_offen_sagen",
    } <= first_tips
    assert {
        "preiserhoehung_einheitlich",
        "festpreis_statt_stunden",
        "fair_kalkulieren",
    } <= second_tips
    # Both profiles answered the same way on how they end a client relationship (by email),
    # so they share only the tip that weighs email against a conversation.
    assert first_tips & second_tips == {"trennung_mail_oder_gespraech"}


def test_analysis_serialises_to_plain_json(content: Content) -> None:
    answers = sample_answers(content, "random", seed=3)
    items = build_analysis(content, answers, score_answers(content, answers))
    data = items[0].to_dict()
    assert data["kind"] == "bottleneck"
    assert isinstance(data["sources"], list)
    assert set(data["sources"][0]) == {"file", "title", "section"}
