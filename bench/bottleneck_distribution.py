"""How often each dimension becomes the bottleneck, for two kinds of synthetic takers.

Run: `.venv/bin/python bench/bottleneck_distribution.py [--n 20000] [--seed 1] [--content PATH]
[--na-rate 0.0]`. Prints, for
(a) uniformly random takers: every question answered with a uniformly random option;
(b) "model-answer" takers: the best option of every scenario (`type: choice`) question, the
    statements (`type: likert`) answered uniformly at random;
the share of takers whose bottleneck is each dimension, and whether it lies within the goal of
8-25 %, plus how often the bottleneck is acute, tied, and how often a dimension had too few
answers for a score.

Not-applicable answers: by default no synthetic taker picks one. Whether an item applies depends
on a taker's history, not on chance, and counting "Kam bei mir noch nicht vor" as one more
random option would drop items at a rate no real taker shows, which says more about the number
of N/A options than about the balance of the scored ones. `--na-rate P` makes every taker pick
the not-applicable answer with probability P wherever a question offers one (the model-answer
takers of (b) on statements only), to see how a given rate shifts the figures.

The scoring is the product's own (`quiz.domain.scoring.score_answers`), tie rule included.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quiz.domain.content import Choice, Content, ContentError, load_content  # noqa: E402
from quiz.domain.scoring import score_answers  # noqa: E402

GOAL = (8.0, 25.0)  # percent of takers per dimension

Taker = Callable[[Content, random.Random, float], dict[str, str]]


def _pick(choices: tuple[Choice, ...], rng: random.Random, na_rate: float) -> str:
    """A uniformly random applicable answer, or the not-applicable one with probability na_rate."""
    not_applicable = [c for c in choices if not c.applicable]
    if not_applicable and rng.random() < na_rate:
        return not_applicable[0].id
    return rng.choice([c for c in choices if c.applicable]).id


def random_taker(content: Content, rng: random.Random, na_rate: float) -> dict[str, str]:
    """(a) Every question answered at random."""
    return {q.id: _pick(content.choices(q.id), rng, na_rate) for q in content.questions}


def model_answer_taker(content: Content, rng: random.Random, na_rate: float) -> dict[str, str]:
    """(b) The best option of every scenario, the statements at random."""
    answers = {}
    for question in content.questions:
        choices = content.choices(question.id)
        if question.type == "choice":
            best = max((c for c in choices if c.applicable), key=lambda c: c.points)
            answers[question.id] = best.id
        else:
            answers[question.id] = _pick(choices, rng, na_rate)
    return answers


def distribution(
    content: Content, taker: Taker, n: int, seed: int, na_rate: float
) -> tuple[Counter[str], Counter[str]]:
    """Bottleneck counts per dimension, and counts of the other figures printed."""
    rng = random.Random(seed)  # synthetic takers, not security
    bottlenecks: Counter[str] = Counter()
    figures: Counter[str] = Counter()
    for _ in range(n):
        result = score_answers(content, taker(content, rng, na_rate))
        bottlenecks[result.bottleneck] += 1
        figures["acute"] += result.bottleneck_acute
        figures["tied"] += bool(result.tied_with)
        figures["insufficient"] += bool(result.insufficient)
    return bottlenecks, figures


def report(
    title: str, content: Content, counts: Counter[str], figures: Counter[str], n: int
) -> int:
    """Print one distribution; return how many dimensions miss the goal."""
    low, high = GOAL
    print(f"\n{title}")
    misses = 0
    for dimension in content.dimensions:
        share = 100 * counts[dimension.id] / n
        ok = low <= share <= high
        misses += not ok
        verdict = "ok" if ok else "OUT"
        print(f"  {dimension.id:<14} {share:5.1f} %  {verdict}")
    print(
        f"  acute bottleneck {100 * figures['acute'] / n:.1f} %, tie at the bottom "
        f"{100 * figures['tied'] / n:.1f} %, a dimension without score "
        f"{100 * figures['insufficient'] / n:.1f} %"
    )
    return misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="takers per kind (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--content", type=Path, default=ROOT / "content" / "questions.yaml")
    parser.add_argument("--na-rate", type=float, default=0.0, help="chance of a N/A answer")
    args = parser.parse_args()
    try:
        # Structural rules only: the balance can be measured before every tip is written.
        content = load_content(args.content, current=False)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"content {content.version} ({content.short_hash}), {len(content.questions)} questions, "
        f"{args.n} takers per kind, seed {args.seed}, N/A rate {args.na_rate:g}, "
        f"goal {GOAL[0]:g}-{GOAL[1]:g} % per dimension"
    )
    started = time.perf_counter()
    misses = 0
    for title, taker in (
        ("(a) uniformly random takers", random_taker),
        ("(b) best scenario option, statements at random", model_answer_taker),
    ):
        counts, figures = distribution(content, taker, args.n, args.seed, args.na_rate)
        misses += report(title, content, counts, figures, args.n)
    print(f"\n{misses} dimension share(s) outside the goal; {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
