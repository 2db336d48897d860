"""Which advice comes first: the tips shown per focus dimension and the three next steps.

One ranking for every view of a result. A tip ranks by the least strong answer that fired it, then
by its priority, then by its place in the content file; the next steps follow the bottleneck and
the least strong answers (see `rank_next_steps`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from quiz.domain.analysis_items import AnalysisItem
from quiz.domain.content_model import NEXT_STEPS, Content
from quiz.domain.scoring import ScoreResult

# Tips shown for the bottleneck and for each other focus dimension: the ones on its least strong
# answers. The headline names the weakest answers, so the weak ones are mentioned either way.
MAX_TIPS = 2
MAX_TIPS_CLOSE = 1


def absent(item: AnalysisItem, items: Sequence[AnalysisItem]) -> bool:
    """Not this very item among them (identity: two items may be equal, yet distinct steps)."""
    return all(item is not other for other in items)


def _lacking(content: Content, question_id: str, answer: str) -> int:
    """How far an answer is from the question's best (0 for a not-applicable one)."""
    choice = content.choice(question_id, answer)
    return content.best_points(question_id) - choice.points if choice.applicable else 0


def tip_key(content: Content, answers: Mapping[str, str], item: AnalysisItem) -> tuple[int, ...]:
    """A tip's rank within its dimension: least strong triggering answer, then priority, file."""
    lacking = max(
        (_lacking(content, question, answers[question]) for question in item.triggered_by),
        default=0,
    )
    return (-lacking, -(item.priority or 0), content.tip_position.get(item.tip or "", 0))


def shown_tips(
    content: Content,
    answers: Mapping[str, str],
    result: ScoreResult,
    focused: tuple[str, ...],
    triggered: list[AnalysisItem],
) -> list[AnalysisItem]:
    """The tips of the focus dimensions (MAX_TIPS, MAX_TIPS_CLOSE), one perspectives note at most."""
    shown: list[AnalysisItem] = []
    for dimension_id in focused:
        own = sorted(
            (t for t in triggered if t.dimension == dimension_id and t.tip_kind != "perspectives"),
            key=lambda item: tip_key(content, answers, item),
        )
        shown += own[: MAX_TIPS if dimension_id == result.bottleneck else MAX_TIPS_CLOSE]
    notes = [t for t in triggered if t.tip_kind == "perspectives" and t.dimension in focused]
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    notes.sort(key=lambda item: (rank[item.dimension], *tip_key(content, answers, item)))
    return shown + notes[:1]


def rank_next_steps(
    content: Content,
    answers: Mapping[str, str],
    result: ScoreResult,
    focused: tuple[str, ...],
    bands: list[AnalysisItem],
    shown: list[AnalysisItem],
    triggered: list[AnalysisItem],
) -> list[AnalysisItem]:
    """Exactly three steps, led by the bottleneck and following the least strong answers.

    1. The bottleneck's best item: its tip on its least strong answer (then priority), or its
       band advice when none fired.
    2. When the result is "knapp", the best item of the next focus dimension, so the steps
       span at least two dimensions; otherwise the next best item, as in 3.
    3. The next best: the tips shown (least strong answer, then priority, then the weaker
       dimension), then, when the profile has no acute bottleneck, any other tip by the same
       key (a strong profile's steps follow its least strong answers wherever they are), then
       the band advice of the focus dimensions and of the rest from the weakest up.
    Perspectives notes weigh two views rather than prescribe a step; they come last.
    """
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}

    def key(item: AnalysisItem) -> tuple[int, ...]:
        return (*tip_key(content, answers, item)[:2], rank.get(item.dimension, len(rank)))

    actions = sorted((t for t in shown if t.tip_kind != "perspectives"), key=key)
    if not result.bottleneck_acute:
        others = [t for t in triggered if t.tip_kind != "perspectives" and absent(t, actions)]
        actions = sorted(actions + others, key=key)
    band_order = sorted(
        bands, key=lambda item: (item.dimension not in focused, rank[item.dimension])
    )
    notes = sorted((t for t in shown if t.tip_kind == "perspectives"), key=key)
    pool = actions + band_order + notes

    steps: list[AnalysisItem] = []

    def take(dimension_id: str | None) -> None:
        found = next(
            (i for i in pool if absent(i, steps) and dimension_id in (None, i.dimension)), None
        )
        if found is not None:
            steps.append(found)

    take(result.bottleneck)
    if result.confidence == "knapp":
        take(next((d for d in focused if d != result.bottleneck), None))
    while len(steps) < NEXT_STEPS and len(steps) < len(pool):
        take(None)
    return steps[:NEXT_STEPS]
