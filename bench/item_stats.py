"""Item statistics benchmark: the questionnaire-quality figures read cold at a million takers.

    .venv/bin/python bench/item_stats.py [--takers 1000000] [--db sqlite|postgresql|both]

For each database (SQLite `/tmp/quiz-bench/item-stats.sqlite3`, PostgreSQL database
`bench_item_stats` on BENCH_PG_URL's server) it migrates, empties the counters and seeds the
counters of TAKERS synthetic takers of the current content straight through
`quiz.counters.item_stats.add_counts` (sums computed with numpy per chunk, no response rows), plus
two years of funnel rows in `coach_rollups` for the drop-off figures. Then, in fresh processes,
it times reading every figure of the coach's page cold (`read()` over all takers, then
excluding demo takers and flagged responses, the CLI's norms, one result page's percentile) and
prints best and worst of 3, against the 1 s target. Finally it times `on_finish()` itself (the
cost the finishing transaction pays) over 200 finishes against the seeded counters.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/quiz-bench"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/bench")
TARGET_SECONDS = 1.0
CHUNK = 200_000
QUALITY_SHARES = (0.94, 0.02, 0.03, 0.01)  # quality 0..3
DEMO_SHARE = 0.1


def _app(url: str) -> Any:
    os.environ["QUIZ_INSTANCE_PATH"] = str(BENCH_DIR)
    from quiz import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
            "RATELIMIT_ENABLED": False,
        }
    )


def _ensure_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    from quiz.config import database_url

    admin = url.rsplit("/", 1)[0] + "/postgres"
    engine = create_engine(database_url(admin), isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def _buckets(seconds: np.ndarray) -> np.ndarray:
    """quiz.counters.rollup_keys.duration_bucket, vectorised."""
    from quiz.counters.rollup_keys import COARSE_STEP, COARSE_UNTIL, FINE_STEP, FINE_UNTIL

    out = np.where(seconds < FINE_UNTIL, seconds // FINE_STEP * FINE_STEP, 0)
    coarse = (seconds >= FINE_UNTIL) & (seconds < COARSE_UNTIL)
    out = np.where(coarse, seconds // COARSE_STEP * COARSE_STEP, out)
    return np.where(seconds >= COARSE_UNTIL, COARSE_UNTIL, np.maximum(out, 0))


def synthetic_deltas(
    content: Any, takers: int, seed: int = 1
) -> dict[str, dict[tuple[Any, ...], int]]:
    """The counters of `takers` synthetic takers, summed per chunk with numpy."""
    rng = np.random.default_rng(seed)
    version = content.version
    questions = list(content.questions)
    choices = [
        [c for c in content.choices(q.id) if getattr(c, "applicable", True)] for q in questions
    ]
    dims = [d.id for d in content.dimensions]
    cols = {d: [i for i, q in enumerate(questions) if q.dimension == d] for d in dims}
    weights = np.array([q.weight for q in questions])
    deltas: dict[str, dict[tuple[Any, ...], int]] = defaultdict(lambda: defaultdict(int))
    done = 0
    while done < takers:
        m = min(CHUNK, takers - done)
        done += m
        traits = rng.normal(size=(m, len(dims)))
        option = np.empty((m, len(questions)), dtype=np.int64)
        points = np.empty((m, len(questions)), dtype=np.int64)
        for i, q in enumerate(questions):
            values = np.array([c.points for c in choices[i]])
            target = 2 + traits[:, dims.index(q.dimension)] * 0.8 + rng.normal(size=m)
            option[:, i] = np.abs(target[:, None] - values[None, :]).argmin(axis=1)
            points[:, i] = values[option[:, i]]
        demo = rng.random(m) < DEMO_SHARE
        quality = rng.choice(4, size=m, p=QUALITY_SHARES)
        seconds = rng.lognormal(np.log(300), 0.4, size=m).astype(np.int64)
        seconds = np.where(quality & 2, seconds // 4, seconds)
        for is_demo in (False, True):
            for flags in range(4):
                mask = (demo == is_demo) & (quality == flags)
                n = int(mask.sum())
                if not n:
                    continue
                base = (version, is_demo, flags)
                _add_group(
                    deltas,
                    base,
                    questions,
                    choices,
                    dims,
                    cols,
                    weights,
                    option[mask],
                    points[mask],
                )
                counts = np.bincount(_buckets(seconds[mask]))
                for bucket in np.flatnonzero(counts):
                    deltas["duration_histogram"][(*base, int(bucket))] += int(counts[bucket])
    return deltas


def _add_group(
    deltas: dict[str, dict[tuple[Any, ...], int]],
    base: tuple[Any, ...],
    questions: list[Any],
    choices: list[list[Any]],
    dims: list[str],
    cols: dict[str, list[int]],
    weights: np.ndarray,
    option: np.ndarray,
    points: np.ndarray,
) -> None:
    from quiz.domain.psychometrics import pair

    sums, options = deltas["item_stat_sums"], deltas["item_option_counts"]
    for i, q in enumerate(questions):
        counts = np.bincount(option[:, i], minlength=len(choices[i]))
        for j, choice in enumerate(choices[i]):
            if counts[j]:
                options[(*base, q.dimension, q.id, choice.id, choice.points)] += int(counts[j])
    for d in dims:
        block = points[:, cols[d]]
        ids = [questions[i].id for i in cols[d]]
        sums[(*base, d, "", "")] += len(block)
        for a, total in zip(ids, block.sum(axis=0), strict=True):
            sums[(*base, d, a, "")] += int(total)
        products = block.T @ block
        for x, a in enumerate(ids):
            for y in range(x, len(ids)):
                sums[(*base, d, *pair(a, ids[y]))] += int(products[x, y])
        w = weights[cols[d]]
        score = np.floor(block @ w / (4 * w.sum()) * 100 + 0.5 + 1e-9).astype(np.int64)
        hist = np.bincount(score, minlength=101)
        for value in np.flatnonzero(hist):
            deltas["score_histogram"][(*base, d, int(value))] += int(hist[value])


def _funnel_rows(content: Any, takers: int) -> dict[Any, list[int]]:
    """Two years of day-level `reached`/`finish` counters over 20 campaigns (month rows follow)."""
    steps = len(content.pages) + 1
    deltas: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(730)]
    per_cell = max(takers // (len(days) * 20 * 2), 1)
    for day in days:
        for campaign in range(20):
            for is_demo in (False, True):
                key = (day, f"kampagne-{campaign}", content.version, is_demo)
                # Quality class 0: the keys gained it with migration 0009.
                for bucket in range(steps + 1):
                    deltas[(*key, "reached", "", bucket, 0)][0] += (
                        per_cell if bucket == steps else 1
                    )
                deltas[(*key, "finish", "", 0, 0)][0] += per_cell
    return deltas


def prepare(url: str, takers: int) -> dict[str, Any]:
    """Migrate, empty and seed the counters; return the seeding figures."""
    from flask_migrate import upgrade
    from sqlalchemy import delete, func, select

    from quiz import database
    from quiz.app_state import get_content
    from quiz.counters import item_stats, rollups
    from quiz.counters.models import CoachRollup
    from quiz.extensions import db
    from quiz.models import Response

    app = _app(url)
    figures: dict[str, Any] = {}
    with app.app_context():
        upgrade()
        with database.write():
            for table in [*item_stats.TABLES.values(), CoachRollup.__table__, Response.__table__]:
                db.session.execute(delete(table))
        content = get_content()
        started = time.perf_counter()
        deltas = synthetic_deltas(content, takers)
        figures["compute_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        with database.write():
            item_stats.add_counts(deltas)
        figures["write_counters_s"] = round(time.perf_counter() - started, 2)
        with database.write():
            rollups.add_counts(_funnel_rows(content, takers))
        figures["counter_rows"] = {
            name: db.session.scalar(select(func.count()).select_from(table))
            for name, table in item_stats.TABLES.items()
        }
        figures["coach_rollup_rows"] = db.session.scalar(
            select(func.count()).select_from(CoachRollup)
        )
        figures["version"] = content.version
        db.session.remove()
        db.engine.dispose()
    return figures


def read_child(url: str) -> None:
    """In a fresh process (nothing compiled or cached yet): time every figure of the page."""
    from quiz.app_state import get_content
    from quiz.counters import item_stats_read, norms_read

    app = _app(url)
    with app.app_context():
        version = get_content().version
        timings: dict[str, float] = {}
        started = time.perf_counter()
        report = item_stats_read.read(version, "include", "all")
        timings["read_all_s"] = time.perf_counter() - started
        t0 = time.perf_counter()
        clean = item_stats_read.read(version, "exclude", "clean")
        timings["read_real_clean_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        norms_read.norms_json(norms_read.norms(version, include_demo=False, min_n=100))
        timings["norms_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        x = norms_read.percentile(version, next(iter(report.dimensions)), 55, False, 100)
        timings["percentile_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - started
        sample = next(iter(report.dimensions.values()))
        print(
            json.dumps(
                {
                    **{k: round(v, 4) for k, v in timings.items()},
                    "finished": report.finished,
                    "finished_real_clean": clean.finished,
                    "alpha_first_dimension": sample.alpha,
                    "percentile_55": x,
                }
            )
        )


def read_cold(url: str, runs: int = 3) -> dict[str, Any]:
    """read_child in fresh processes; best and worst total."""
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--read-child", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    totals = [r["total_s"] for r in results]
    return {"cold_best_s": min(totals), "cold_worst_s": max(totals), "last": results[-1]}


def finish_cost(url: str, finishes: int = 200) -> dict[str, Any]:
    """Milliseconds `on_finish()` adds to a finishing transaction, with the counters seeded."""
    from quiz import database
    from quiz.app_state import get_content
    from quiz.counters import item_stats
    from quiz.domain.scoring import sample_answers, score_answers
    from quiz.extensions import db
    from quiz.models import SCORED_DIMENSIONS, Answer, Response

    app = _app(url)
    costs = []
    with app.app_context():
        content = get_content()
        now = datetime.now(UTC)
        for i in range(finishes):
            answers = sample_answers(content, "random", seed=i)
            result = score_answers(content, answers)
            with database.write():
                response = Response(
                    draft_token=secrets.token_urlsafe(24),
                    result_token=secrets.token_urlsafe(24),
                    status="finished",
                    content_version=content.version,
                    content_hash=content.sha256,
                    started_at=now - timedelta(seconds=300),
                    finished_at=now,
                    step_times={},
                    **{f"score_{d}": s for d, s in result.scores.items() if d in SCORED_DIMENSIONS},
                )
                db.session.add(response)
                db.session.flush()
                rows = []
                for q in content.questions:
                    points = {c.id: c.points for c in content.choices(q.id)}[answers[q.id]]
                    rows.append(
                        Answer(
                            response_id=response.id,
                            question_id=q.id,
                            option_id=answers[q.id],
                            dimension_id=q.dimension,
                            points=points,
                        )
                    )
                db.session.add_all(rows)
                db.session.flush()
                t0 = time.perf_counter()
                item_stats.on_finish(response, rows)
                costs.append(time.perf_counter() - t0)
        db.session.remove()
        db.engine.dispose()

    def median_ms(values: list[float]) -> float:
        return round(sorted(values)[len(values) // 2] * 1000, 2)

    # Every finish updates the same few hundred counter rows; on PostgreSQL their dead versions
    # pile up until autovacuum (at most a minute) clears them, so the last ones cost more.
    return {
        "on_finish_median_ms": median_ms(costs),
        "on_finish_first_20_median_ms": median_ms(costs[:20]),
        "on_finish_last_20_median_ms": median_ms(costs[-20:]),
        "on_finish_p95_ms": round(sorted(costs)[int(len(costs) * 0.95)] * 1000, 2),
    }


def main() -> None:
    """Parse arguments, run the benchmark per database, print the figures and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takers", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--read-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_child:
        read_child(args.read_child)
        return
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    urls = {}
    if args.db in ("sqlite", "both"):
        urls["sqlite"] = f"sqlite:///{BENCH_DIR / 'item-stats.sqlite3'}"
    if args.db in ("postgresql", "both"):
        urls["postgresql"] = f"{PG_URL}_item_stats"
        _ensure_pg_database(urls["postgresql"])
    summary = []
    for name, url in urls.items():
        figures: dict[str, Any] = {"db": name, "takers": args.takers}
        figures["seed"] = prepare(url, args.takers)
        figures["read"] = read_cold(url)
        figures["finish"] = finish_cost(url)
        print(json.dumps(figures, indent=2), flush=True)
        worst = figures["read"]["cold_worst_s"]
        verdict = "ok" if worst < TARGET_SECONDS else "OVER TARGET"
        summary.append(
            f"{name:10} {args.takers:>9} takers: page figures cold {figures['read']['cold_best_s']:.3f}"
            f"-{worst:.3f} s ({verdict}), on_finish {figures['finish']['on_finish_median_ms']} ms"
        )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
