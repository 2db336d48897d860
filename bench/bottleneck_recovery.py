"""How often the quiz names the taker's truly weakest dimension, and how sure it says it is.

Run: `.venv/bin/python bench/bottleneck_recovery.py [--n 10000] [--seed 1] [--content PATH]
[--before PATH] [--robustness] [--batch-lines 10000]`.

A graded-response simulation of our own (issue 23): every synthetic taker has a latent level
per dimension, standard normal, sharing a general factor with correlation r = 0.3
(level = sqrt(r) g + sqrt(1 - r) e); every question answers from its dimension's level with
discrimination 1.5 and thresholds spread over the five-point scale: between two neighbouring
point levels of the question, at (low + high) / 2 - 2 (so a statement's four thresholds sit at
-1.5, -0.5, 0.5, 1.5), and a scenario's options are chosen by their points (one of the options
with the drawn points, at random). Nobody answers "not applicable". The quiz is driven through
its own `quiz.domain.flow.evaluate`: the taker answers whatever `next_questions` names until it
is empty (the core pages, then the extra page when one is due), and the final result is
compared with the true weakest dimension.

Printed, each beside its goal: top-1 (named bottleneck = truly weakest), the truly weakest
within bottleneck + tied_with + close_to and that set's size, "klar" results and how often they
are right, questions asked (mean, max). Then the same for the content before (2026.2 by
default: the archived file, scored once with today's scoring and once as it was scored then,
with its tie rule by tips and no close_to). `--robustness` adds rows where the simulation's
items differ from what the scoring assumes (discrimination 1.0 and 2.0, independent levels).

Then the bottleneck distribution (each dimension 8-25 %) of uniformly random takers and of
"best scenario option" takers (the best option of every scenario, statements at random), both
through the quiz with its extra page; the length of the whole analysis (issue 23, item 5) over
random takers and whether strong takers' next steps follow their least strong answers; and the
time `flask --app quiz score --batch` takes for `--batch-lines` lines
(0 skips it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quiz.domain.analysis import analyse  # noqa: E402
from quiz.domain.content import Content, ContentError, load_content  # noqa: E402
from quiz.domain.content_model import MAX_POINTS  # noqa: E402
from quiz.domain.content_rules import sentences  # noqa: E402
from quiz.domain.flow import evaluate  # noqa: E402
from quiz.domain.scoring import ScoreResult, tie_key  # noqa: E402

GOALS = {
    "top1": ("top-1: named bottleneck = truly weakest", ">=", 63.0, "%"),
    "in_set": ("truly weakest in bottleneck + tied_with + close_to", ">=", 90.0, "%"),
    "set_size": ("  dimensions in that set (mean)", "<=", 2.7, ""),
    "klar_right": ('"klar" results that are right', ">=", 85.0, "%"),
    "questions": ("questions asked (mean)", "<=", 35.0, ""),
    "questions_max": ("questions asked (max)", "<=", 40.0, ""),
}
DISTRIBUTION_GOAL = (8.0, 25.0)
WORDS_GOAL = 700


@dataclass
class Simulation:
    """The synthetic population: levels and one uniform draw per taker and question."""

    levels: np.ndarray  # takers x dimensions
    draws: np.ndarray  # takers x questions (uniform, for the graded response)
    picks: np.ndarray  # takers x questions (uniform, to pick among options of equal points)


def simulate(content: Content, n: int, seed: int, r: float, questions: list[str]) -> Simulation:
    """Levels with a shared factor r, and the random draws every answer is made from."""
    rng = np.random.default_rng(seed)
    general = rng.standard_normal((n, 1))
    own = rng.standard_normal((n, len(content.dimensions)))
    levels = math.sqrt(r) * general + math.sqrt(1 - r) * own
    return Simulation(levels, rng.random((n, len(questions))), rng.random((n, len(questions))))


def answer(
    content: Content, question_id: str, level: float, draw: float, pick: float, slope: float
) -> str:
    """The graded response at this level: the highest point level whose threshold is passed."""
    choices = [c for c in content.choices(question_id) if c.applicable]
    levels = sorted({c.points for c in choices})
    reached = levels[0]
    for low, high in itertools.pairwise(levels):
        threshold = (low + high) / 2 - MAX_POINTS / 2
        if draw < 1 / (1 + math.exp(-slope * (level - threshold))):
            reached = high
        else:
            break
    options = [c.id for c in choices if c.points == reached]
    return options[min(int(pick * len(options)), len(options) - 1)]


def drive(content: Content, respond: Callable[[str], str]) -> tuple[dict[str, str], ScoreResult]:
    """Answer what the quiz asks until it is done; the answers and the final result."""
    answers: dict[str, str] = {}
    while True:
        evaluation = evaluate(content, answers)
        if evaluation.complete:
            assert evaluation.result is not None
            return answers, evaluation.result
        for question_id in evaluation.next_questions:
            answers[question_id] = respond(question_id)


def legacy_result(content: Content, answers: Mapping[str, str], result: ScoreResult) -> ScoreResult:
    """The result as content up to 2026.2 was scored: ties broken by tips, nothing close."""
    key = tie_key(content, answers)
    ranking = tuple(sorted(result.scores, key=lambda d: (result.scores[d], *key[d])))
    tied = tuple(d for d in ranking[1:] if result.scores[d] == result.scores[ranking[0]])
    return ScoreResult(scores=result.scores, bands=result.bands, ranking=ranking, tied_with=tied)


def recovery(
    content: Content,
    n: int,
    seed: int,
    r: float,
    slope: float,
    legacy: bool = False,
) -> dict[str, float]:
    """The goal figures for one content and one simulated population."""
    questions = [q.id for q in content.all_questions]
    column = {qid: index for index, qid in enumerate(questions)}
    dimension_index = {d.id: i for i, d in enumerate(content.dimensions)}
    sim = simulate(content, n, seed, r, questions)
    counts: Counter[str] = Counter()
    asked: list[int] = []
    small_gap = [0, 0]
    for taker in range(n):
        levels = sim.levels[taker]

        def respond(question_id: str, taker: int = taker, levels: np.ndarray = levels) -> str:
            question = content.question_by_id[question_id]
            index = column[question_id]
            return answer(
                content,
                question_id,
                float(levels[dimension_index[question.dimension]]),
                float(sim.draws[taker, index]),
                float(sim.picks[taker, index]),
                slope,
            )

        answers, result = drive(content, respond)
        if legacy:
            result = legacy_result(content, answers, result)
        truth = content.dimensions[int(np.argmin(levels))].id
        named = {result.bottleneck, *result.tied_with, *result.close_to}
        counts["top1"] += result.bottleneck == truth
        counts["in_set"] += truth in named
        counts["set_size"] += len(named)
        counts["ties"] += bool(result.tied_with)
        counts["extra"] += bool(result.extra_answered)
        klar = not result.tied_with and not result.close_to
        counts["klar"] += klar
        counts["klar_right"] += klar and result.bottleneck == truth
        asked.append(len(answers))
        ordered = np.sort(levels)
        if ordered[1] - ordered[0] < 0.25:
            small_gap[0] += 1
            small_gap[1] += result.bottleneck == truth
    return {
        "top1": 100 * counts["top1"] / n,
        "in_set": 100 * counts["in_set"] / n,
        "set_size": counts["set_size"] / n,
        "klar": 100 * counts["klar"] / n,
        "klar_right": 100 * counts["klar_right"] / max(counts["klar"], 1),
        "questions": statistics.fmean(asked),
        "questions_max": max(asked),
        "ties": 100 * counts["ties"] / n,
        "extra": 100 * counts["extra"] / n,
        "small_gap_share": 100 * small_gap[0] / n,
        "small_gap_top1": 100 * small_gap[1] / max(small_gap[0], 1),
    }


def print_goals(rows: list[tuple[str, dict[str, float]]]) -> int:
    """One column per row of figures, each goal line with its verdict on the first column."""
    misses = 0
    width = max(len(label) for label, _, _, _ in GOALS.values()) + 2
    print(" " * width + "".join(f"{title:>22}" for title, _ in rows) + "   goal")
    for key, (label, sense, target, unit) in GOALS.items():
        values = [figures[key] for _, figures in rows]
        first = values[0]
        ok = first >= target if sense == ">=" else first <= target
        misses += not ok
        cells = "".join(f"{value:>20.1f}{unit:<2}" for value in values)
        verdict = "ok" if ok else "MISSED"
        print(f"{label:<{width}}{cells}   {sense} {target:g}{unit}  {verdict}")
    for key, label in (
        ("klar", '  results labelled "klar"'),
        ("ties", "  results with a tie"),
        ("extra", "  takers asked the extra page"),
        ("small_gap_top1", "  top-1 when the true gap < 0.25 SD"),
        ("small_gap_share", "  takers with a true gap < 0.25 SD"),
    ):
        cells = "".join(f"{figures[key]:>20.1f}% " for _, figures in rows)
        print(f"{label:<{width}}{cells}")
    return misses


def distribution(content: Content, n: int, seed: int, kind: str) -> tuple[Counter[str], int]:
    """Bottleneck counts of uniformly random or best-scenario-option takers, through the quiz."""
    rng = random.Random(seed)  # synthetic takers, not security

    def respond(question_id: str) -> str:
        question = content.question_by_id[question_id]
        choices = [c for c in content.choices(question_id) if c.applicable]
        if kind == "best-scenario" and question.type == "choice":
            return max(choices, key=lambda c: c.points).id
        return rng.choice(choices).id

    counts: Counter[str] = Counter()
    for _ in range(n):
        _, result = drive(content, respond)
        counts[result.bottleneck] += 1
    return counts, n


def analysis_length(content: Content, n: int, seed: int) -> dict[str, float]:
    """Words of the whole analysis (each item once, and with the step list again) and the
    rules of item 5, over uniformly random takers driven through the quiz."""
    rng = random.Random(seed)  # synthetic takers, not security

    def respond(question_id: str) -> str:
        return rng.choice([c for c in content.choices(question_id) if c.applicable]).id

    words: list[int] = []
    with_steps: list[int] = []
    figures: Counter[str] = Counter()
    for _ in range(n):
        answers, result = drive(content, respond)
        analysis = analyse(content, answers, result)
        texts = [f"{item.title} {item.text}" for item in analysis.items]
        count = sum(len(text.split()) for text in texts)
        words.append(count)
        with_steps.append(
            count + sum(len(f"{s.title} {s.text}".split()) for s in analysis.next_steps)
        )
        every = [s for text in texts for s in sentences(text)]
        figures["repeated"] += len(every) != len(set(every))
        dims = {step.dimension for step in analysis.next_steps}
        knapp = result.confidence == "knapp"
        figures["knapp"] += knapp
        figures["knapp_two_dims"] += knapp and len(dims) >= 2
        figures["tips"] += sum(item.kind == "tip" for item in analysis.items)
        figures["luft_100"] += (
            any("Luft nach oben" in text for text in texts)
            and result.scores[result.bottleneck] == 100
        )
    words.sort()
    return {
        "median": statistics.median(words),
        "p90": words[int(0.9 * (len(words) - 1))],
        "max": words[-1],
        "median_with_steps": statistics.median(with_steps),
        "tips": figures["tips"] / n,
        "repeated": 100 * figures["repeated"] / n,
        "knapp_two_dims": 100 * figures["knapp_two_dims"] / max(figures["knapp"], 1),
        "luft_100": figures["luft_100"],
    }


def strong_steps(content: Content, n: int, seed: int) -> dict[str, float]:
    """Strong profiles (every answer among its question's two best point levels, none weak, no
    acute bottleneck): do their next steps follow their least strong answers, not the file order?"""
    rng = random.Random(seed)  # synthetic takers, not security

    def respond(question_id: str) -> str:
        choices = [c for c in content.choices(question_id) if c.applicable and not c.weak]
        top = sorted({c.points for c in choices})[-2:]
        return rng.choice([c for c in choices if c.points in top]).id

    figures: Counter[str] = Counter()
    for _ in range(n):
        answers, result = drive(content, respond)
        if result.bottleneck_acute:  # a strong profile: every dimension in its top band
            continue
        figures["strong"] += 1
        steps = analyse(content, answers, result).next_steps
        lacking = {
            q: content.best_points(q) - content.choice(q, a).points
            for q, a in answers.items()
            if content.choice(q, a).applicable
        }
        below = [q for q, gap in lacking.items() if gap]
        figures["below_three"] += len(below) >= 3
        figures["all_tips"] += len(below) >= 3 and all(step.kind == "tip" for step in steps)
        least = max(lacking.values())
        figures["least_led"] += (
            any(lacking.get(q, 0) == least for step in steps for q in step.triggered_by)
            or not least
        )
    return {
        "all_tips": 100 * figures["all_tips"] / max(figures["below_three"], 1),
        "least_led": 100 * figures["least_led"] / max(figures["strong"], 1),
        "strong": figures["strong"],
    }


def batch_timing(content_path: Path, lines: int, seed: int) -> tuple[float, float, int]:
    """Seconds `flask --app quiz score --batch` takes for this many complete answer lines: wall
    clock and the CPU time it used (what it costs on a machine of its own)."""
    content = load_content(content_path, current=False)
    rng = random.Random(seed)  # synthetic takers, not security

    def respond(question_id: str) -> str:
        return rng.choice([c for c in content.choices(question_id) if c.applicable]).id

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answers.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for _ in range(lines):
                answers, _ = drive(content, respond)
                out.write(json.dumps(answers) + "\n")
        flask = Path(sys.executable).parent / "flask"
        env = {
            "PATH": "/usr/bin:/bin",
            "QUIZ_CONTENT_PATH": str(content_path),
            "QUIZ_INSTANCE_PATH": tmp,
        }
        started = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run(
            [str(flask), "--app", "quiz", "score", "--batch", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        return seconds, cpu, -1
    return seconds, cpu, len(run.stdout.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="takers per row (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--r", type=float, default=0.3, help="shared factor (default 0.3)")
    parser.add_argument("--discrimination", type=float, default=1.5)
    parser.add_argument("--content", type=Path, default=ROOT / "content" / "questions.yaml")
    parser.add_argument("--before", type=Path, default=ROOT / "content" / "archive" / "2026.2.yaml")
    parser.add_argument("--robustness", action="store_true", help="add rows with other items")
    parser.add_argument("--words-n", type=int, default=2000, help="takers for the word count")
    parser.add_argument("--batch-lines", type=int, default=10_000)
    args = parser.parse_args()
    try:
        # Structural rules only: the figures can be measured while the content is written.
        content = load_content(args.content, current=False)
        before = load_content(args.before, current=False) if args.before.name else None
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    started = time.perf_counter()
    print(
        f"content {content.version} ({content.short_hash}): {len(content.questions)} core "
        f"questions, {len(content.extra_questions)} extra; {args.n} takers per column, seed "
        f"{args.seed}, shared factor r = {args.r:g}, discrimination {args.discrimination:g}\n"
    )
    rows = [(content.version, recovery(content, args.n, args.seed, args.r, args.discrimination))]
    if before is not None:
        rows.append((f"{before.version} today", recovery(before, args.n, args.seed, args.r, 1.5)))
        rows.append(
            (f"{before.version} then", recovery(before, args.n, args.seed, args.r, 1.5, True))
        )
    if args.robustness:
        for label, r, slope in (
            ("r = 0", 0.0, 1.5),
            ("a = 1.0", args.r, 1.0),
            ("a = 2.0", args.r, 2.0),
        ):
            rows.append(
                (f"{content.version} {label}", recovery(content, args.n, args.seed, r, slope))
            )
    misses = print_goals(rows)
    print("(goal verdicts are for the first column)")

    low, high = DISTRIBUTION_GOAL
    for title, kind in (
        ("uniformly random takers", "random"),
        ("best scenario option, statements at random", "best-scenario"),
    ):
        counts, n = distribution(content, args.n, args.seed, kind)
        print(f"\nbottleneck distribution, {title} (goal {low:g}-{high:g} % each)")
        for dimension in content.dimensions:
            share = 100 * counts[dimension.id] / n
            ok = low <= share <= high
            misses += not ok
            print(f"  {dimension.id:<14} {share:5.1f} %  {'ok' if ok else 'OUT'}")

    words = analysis_length(content, args.words_n, args.seed)
    print(f"\nthe whole analysis, {args.words_n} uniformly random takers through the quiz")
    ok = words["median"] <= WORDS_GOAL
    misses += not ok
    print(
        f"  words, each item once: median {words['median']:.0f} (goal <= {WORDS_GOAL}) "
        f"{'ok' if ok else 'MISSED'}, 90th percentile {words['p90']:.0f}, max {words['max']:.0f}"
    )
    print(f"  words with the step list read again: median {words['median_with_steps']:.0f}")
    print(f"  tips per analysis: {words['tips']:.1f}")
    two = words["knapp_two_dims"]
    print(f"  'knapp' results with next steps from two or more dimensions: {two:.1f} % (goal 100)")
    print(f"  analyses repeating a sentence: {words['repeated']:.1f} % (goal 0)")
    print(f"  'Luft nach oben' beside a score of 100: {words['luft_100']:.0f} (goal 0)")
    misses += (two < 100) + (words["repeated"] > 0) + (words["luft_100"] > 0)
    strong = strong_steps(content, args.words_n, args.seed)
    print(
        f"  strong profiles ({strong['strong']:.0f} takers answering among each question's two "
        "best, no weak answer, every dimension in its top band): steps all tips on their "
        f"answers {strong['all_tips']:.1f} %, a step on their least strong answer "
        f"{strong['least_led']:.1f} % (goal 100 each)"
    )
    misses += (strong["all_tips"] < 100) + (strong["least_led"] < 100)

    if args.batch_lines:
        seconds, cpu, printed = batch_timing(args.content, args.batch_lines, args.seed)
        ok = printed == args.batch_lines and seconds < 10
        misses += not ok
        load = os.getloadavg()[0]
        print(
            f"\nflask --app quiz score --batch: {args.batch_lines} lines in {seconds:.1f} s "
            f"({cpu:.1f} s of CPU; load average {load:.1f} on {os.cpu_count()} cores), "
            f"{printed} results (goal < 10 s) {'ok' if ok else 'MISSED'}"
        )
    print(f"\n{misses} goal(s) missed; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
