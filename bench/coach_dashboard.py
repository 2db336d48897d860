"""Coach dashboard benchmark: cold-cache render time and CSV export peak memory (issue 5, 7), and
the "Fragebogen-Qualität" page's cold render time (issue 14).

    .venv/bin/python bench/coach_dashboard.py [--rows 100000,1000000] [--db sqlite|postgresql|both]

For each size in ROWS and each database, seeds that many demo takers with `seed-demo` into a bench
database of its own (SQLite `/tmp/quiz-bench/bench-ROWS.sqlite3`, PostgreSQL database
`bench_ROWS` on BENCH_PG_URL's server), unless it already holds exactly that many, then prints:

- the time `flask db upgrade` took (migrating a database seeded by an older version recounts the
  rollups when migration 0009 finds flagged responses), seeding time (when it seeded), rollup rows;
- the dashboard page plus its five chart PNGs with a cold cache (best and worst of 3 runs; the
  first run of a fresh process also loads matplotlib's fonts), and four filtered views: campaign
  and demo, a quarter, without flagged responses, and only the flagged ones of a quarter;
- the questionnaire-quality page (`/coach/qualitaet`, which has no cache): its first request in
  a fresh app (new database connection, template compiled), the best of 3 after, and two filtered
  views. `seed-demo` writes takers in bulk without moving the item-statistics counters, so when
  they do not count every finished response, `item_stats_rebuild.rebuild()` fills them first (timed);
- the funnel per source (issue 25): `seed-demo` writes no visits, so the benchmark adds visit
  counters (three per start, per day and source) once; the dashboard's timings above include its
  table of sources; then the sources' CSV, an A/B test with four variants and a million counted
  visits: its page `/coach/experimente/<id>` cold (a fresh readout: four metrics x four variants
  of 200,000 posterior draws) and `experiments show --json`;
- peak RSS (VmHWM) of a subprocess streaming the CSV export of all leads, read after the first
  100,000 rows and at the end, next to the same process's peak before the export began;
- the follow-up series' figures (issue 24): `seed-demo` queues no follow-ups, so the benchmark
  adds their counters once, from the confirmed opt-ins the rollups count per day (each gets three
  follow-ups 2, 5 and 10 days later, of which a few per cent are clicked or followed by an
  unsubscribe); then `followup_stats.by_email` cold in a fresh app, unfiltered and filtered
  (the dashboard's timings above include them). `--only followups` runs just this part (after
  seeding, when the database does not hold ROWS takers yet). Seeding a million takers takes over
  an hour on a busy 2-core machine, so `--followup-takers N` instead writes the follow-up
  counters N takers would leave (a fifth confirm the newsletter over the last 365 days, spread
  over the demo's campaigns, two content versions and four quality classes: every key filled, as
  at a million), e.g. `--rows 0 --only followups --followup-takers 1000000`;

and at the end one summary line per database and size. The files and databases stay for the
next run; delete them when done (a million takers take about 4.5 GB in SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/quiz-bench"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/bench")
TARGET_SECONDS = 1.0
PASSWORD = "bench-passwort-123456"
CHECKPOINT = 100_000


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _app(url: str) -> Any:
    os.environ["QUIZ_INSTANCE_PATH"] = str(BENCH_DIR)
    from quiz import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
        }
    )


def _pg_url(rows: int) -> str:
    return f"{PG_URL}_{rows}"


def _ensure_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    from quiz.config import database_url

    admin = url.rsplit("/", 1)[0] + "/postgres"
    engine = create_engine(database_url(admin), isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def prepare(
    url: str, rows: int, only: str = "all", followup_takers: int | None = None
) -> dict[str, Any]:
    """Migrate, seed ROWS demo takers unless present, make sure the coach exists; fill the
    counters seed-demo leaves out (with `only="followups"` just the follow-ups')."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from quiz.app_state import get_content
    from quiz.coach import accounts as coach_accounts
    from quiz.coach import demo
    from quiz.counters.models import CoachRollup
    from quiz.extensions import db
    from quiz.models import Response

    app = _app(url)
    figures: dict[str, Any] = {}
    with app.app_context():
        started = time.perf_counter()
        upgrade()
        figures["upgrade_seconds"] = round(time.perf_counter() - started, 1)
        present = db.session.scalar(select(func.count()).select_from(Response)) or 0
        if present != rows:
            demo.remove()
            started = time.perf_counter()
            demo.seed(get_content(), rows, seed_value=1)
            figures["seed_seconds"] = round(time.perf_counter() - started, 1)
        figures["responses"] = db.session.scalar(select(func.count()).select_from(Response))
        figures["rollup_rows"] = db.session.scalar(select(func.count()).select_from(CoachRollup))
        if only == "all":
            figures |= fill_item_stats()
            figures |= fill_visits()
        figures |= fill_followups(followup_takers)
        if coach_accounts.find_coach("bench@example.com") is None:
            coach_accounts.create_coach("bench@example.com", PASSWORD)
        db.session.remove()
        db.engine.dispose()
    return figures


def fill_item_stats() -> dict[str, Any]:
    """Rebuild the item-statistics counters if they miss finished responses (bulk seeding)."""
    from sqlalchemy import func, select

    from quiz import database
    from quiz.counters import item_stats_rebuild
    from quiz.counters.models import DurationHistogram
    from quiz.extensions import db
    from quiz.models import Response

    finished = db.session.scalar(
        select(func.count()).select_from(Response).where(Response.status == "finished")
    )
    counted = db.session.scalar(select(func.coalesce(func.sum(DurationHistogram.count), 0)))
    figures: dict[str, Any] = {"finished": finished}
    if finished != counted:
        started = time.perf_counter()
        with database.write():
            item_stats_rebuild.rebuild()
        figures["item_stats_rebuild_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def fill_visits() -> dict[str, Any]:
    """Visit counters for the demo traffic (three per start), once; and an A/B test to read."""
    from sqlalchemy import func, select

    from quiz import database
    from quiz.counters import funnel
    from quiz.counters.models import FunnelCounter
    from quiz.experiments import lifecycle
    from quiz.extensions import db
    from quiz.models import Experiment

    f = FunnelCounter.__table__.c
    figures: dict[str, Any] = {}
    if not db.session.scalar(select(func.count()).where(f.metric == "visit")):
        started = time.perf_counter()
        keys = [f.day, f.source, f.medium, f.campaign, f.referrer_host, f.content_version]
        rows = db.session.execute(
            select(*keys, f.is_demo, func.sum(f.count))
            .where(f.metric == "start")
            .group_by(*keys, f.is_demo)
        ).all()
        with database.write():
            funnel.add_funnel(
                {(*row[:6], bool(row[6]), 0, "visit"): 3 * int(row[7]) for row in rows}
            )
        figures["visits_added_seconds"] = round(time.perf_counter() - started, 1)
    if db.session.scalar(select(func.count()).select_from(Experiment)) == 0:
        variants = [lifecycle.VariantInput(n, f"Überschrift {n}") for n in "ABCD"]
        experiment = lifecycle.create("Bench", "landing_headline", "start", variants, "bench")
        lifecycle.change(experiment, "started", "bench")
        rates = (0.30, 0.31, 0.29, 0.33)
        with database.write():
            funnel.add_experiments(
                {
                    key: value
                    for p, rate in enumerate(rates)
                    for key, value in (
                        ((experiment, p, "visit"), 250_000),
                        ((experiment, p, "start"), int(250_000 * rate)),
                        ((experiment, p, "finish"), int(250_000 * rate * 0.6)),
                        ((experiment, p, "optin"), int(250_000 * rate * 0.2)),
                    )
                }
            )
    figures["funnel_rows"] = db.session.scalar(select(func.count()).select_from(FunnelCounter))
    return figures


def _synthetic_optins(takers: int) -> list[tuple[Any, ...]]:
    """(day, campaign, version, demo, quality, confirmed opt-ins) as `takers` takers leave them."""
    from datetime import UTC, datetime, timedelta

    from quiz.app_state import get_content
    from quiz.coach.demo_takers import OLD_VERSION, SOURCES

    rng = random.Random(24)
    today = datetime.now(UTC).date()
    campaigns = [(campaign or "", weight / 100) for _s, _m, campaign, weight in SOURCES]
    versions = [(get_content().version, 0.85), (OLD_VERSION, 0.15)]
    qualities = [(0, 0.85), (1, 0.07), (2, 0.06), (3, 0.02)]
    per_day = takers / 5 / 365
    rows = []
    for age in range(365):
        day = today - timedelta(days=age)
        for campaign, cw in campaigns:
            for version, vw in versions:
                for quality, qw in qualities:
                    expected = per_day * cw * vw * qw
                    count = int(expected) + (rng.random() < expected - int(expected))
                    if count:
                        rows.append((day, campaign, version, True, quality, count))
    return rows


def fill_followups(takers: int | None = None) -> dict[str, Any]:
    """Follow-up counters for the demo takers' confirmed opt-ins (or those `takers` would
    leave), once (seed-demo sends none)."""
    from collections import Counter
    from datetime import timedelta

    from sqlalchemy import func, select

    from quiz import database
    from quiz.counters import followups
    from quiz.counters.models import CoachRollup, FollowupCount
    from quiz.counters.rollup_keys import as_date
    from quiz.extensions import db

    figures: dict[str, Any] = {}
    if not db.session.scalar(select(func.count()).select_from(FollowupCount)):
        started = time.perf_counter()
        t = CoachRollup.__table__.c
        keys = [t.day, t.campaign, t.content_version, t.is_demo, t.quality]
        rows = (
            _synthetic_optins(takers)
            if takers
            else db.session.execute(
                select(*keys, func.sum(t.count))
                .where(t.metric == "marketing", t.period == "day")
                .group_by(*keys)
            ).all()
        )
        deltas: Counter[Any] = Counter()
        rng = random.Random(24)
        for day, campaign, version, demo, quality, count in rows:
            remaining = int(count)
            for number, after in ((1, 2), (2, 5), (3, 10)):
                key = (campaign, version, bool(demo), int(quality), number)
                sent_day = as_date(day) + timedelta(days=after)
                clicked = sum(rng.random() < 0.06 for _ in range(remaining))
                unsubscribed = sum(rng.random() < 0.03 for _ in range(remaining))
                deltas[(sent_day, *key[:4], number, "sent")] += remaining
                deltas[(sent_day + timedelta(days=1), *key[:4], number, "clicked")] += clicked
                deltas[(sent_day + timedelta(days=2), *key[:4], number, "unsubscribed")] += (
                    unsubscribed
                )
                remaining -= unsubscribed
        with database.write():
            followups.add(deltas)
        figures["followups_added_seconds"] = round(time.perf_counter() - started, 1)
    figures["followup_rows"] = db.session.scalar(select(func.count()).select_from(FollowupCount))
    figures["followups_sent"] = db.session.scalar(
        select(func.sum(FollowupCount.count)).where(FollowupCount.metric == "sent")
    )
    return figures


def followup_timings(url: str) -> dict[str, Any]:
    """The dashboard's follow-up figures, cold in a fresh app: all, a quarter, a campaign."""
    from datetime import date

    from quiz.coach import followup_stats
    from quiz.coach.counter_filters import CounterFilters
    from quiz.extensions import db

    app = _app(url)
    timings: dict[str, Any] = {}
    with app.app_context():
        for name, filters in (
            ("all", CounterFilters(None, None, None, None, "all", "all")),
            (
                "quarter",
                CounterFilters(date(2026, 1, 1), date(2026, 3, 31), None, None, "all", "all"),
            ),
            (
                "campaign_clean",
                CounterFilters(None, None, "linkedin-engpass", None, "demo", "clean"),
            ),
        ):
            started = time.perf_counter()
            rows = followup_stats.by_email(filters)
            timings[name] = round(time.perf_counter() - started, 3)
            if name == "all":
                timings["emails_shown"] = [
                    (r.number, r.sent, r.clicked, r.unsubscribed) for r in rows
                ]
        db.session.remove()
        db.engine.dispose()
    return {"followup_figures_cold_s": timings}


def funnel_timings(url: str) -> dict[str, Any]:
    """The sources' CSV, and an A/B test's page and JSON cold (a fresh app and readout)."""
    from quiz.experiments import readout

    app = _app(url)
    client = app.test_client()
    client.post("/coach/login", data={"email": "bench@example.com", "password": PASSWORD})
    with app.app_context():
        from sqlalchemy import func, select

        from quiz.extensions import db
        from quiz.models import Experiment

        experiment = db.session.scalar(select(func.min(Experiment.id)))
    readout._analyse.cache_clear()
    started = time.perf_counter()
    page = client.get(f"/coach/experimente/{experiment}")
    experiment_seconds = time.perf_counter() - started
    assert page.status_code == 200 and "Besuche und Schritte" in page.get_data(as_text=True)
    readout._analyse.cache_clear()
    started = time.perf_counter()
    shown = app.test_cli_runner().invoke(args=["experiments", "show", str(experiment), "--json"])
    json_seconds = time.perf_counter() - started
    assert shown.exit_code == 0, shown.output
    started = time.perf_counter()
    csv = client.get("/coach/quellen.csv")
    csv_seconds = time.perf_counter() - started
    assert csv.status_code == 200
    return {
        "experiment_page_cold_s": round(experiment_seconds, 3),
        "experiments_show_json_s": round(json_seconds, 3),
        "experiment_recommendation": json.loads(shown.output)["recommendation"],
        "sources_csv_s": round(csv_seconds, 3),
        "sources_csv_rows": csv.get_data(as_text=True).count("\n") - 1,
    }


def quality_timings(url: str, runs: int = 3) -> dict[str, Any]:
    """The questionnaire-quality page: first request of a fresh app, then warm, then filtered."""
    app = _app(url)
    client = app.test_client()
    client.post("/coach/login", data={"email": "bench@example.com", "password": PASSWORD})
    timings = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        page = client.get("/coach/qualitaet")
        timings.append(time.perf_counter() - started)
        assert page.status_code == 200, page.status_code
        assert "Cronbachs α" in page.get_data(as_text=True)
    filtered = []
    for query in ("?demo=real", "?quality=clean&demo=demo"):
        started = time.perf_counter()
        assert client.get("/coach/qualitaet" + query).status_code == 200
        filtered.append(round(time.perf_counter() - started, 3))
    return {
        "quality_page_first_s": round(timings[0], 3),
        "quality_page_best_s": round(min(timings[1:]), 3),
        "quality_page_filtered_s": filtered,
    }


def dashboard_timings(url: str, runs: int = 3) -> dict[str, Any]:
    """Dashboard HTML plus its five charts, cache emptied before each run."""
    from quiz.web.coach import dashboard as coach

    app = _app(url)
    client = app.test_client()
    client.post("/coach/login", data={"email": "bench@example.com", "password": PASSWORD})
    totals = []
    parts: dict[str, float] = {}
    for _ in range(runs):
        coach.clear_cache()
        started = time.perf_counter()
        page = client.get("/coach/")
        assert page.status_code == 200, page.status_code
        parts["html"] = time.perf_counter() - started
        for name in coach.CHART_NAMES:
            t0 = time.perf_counter()
            chart = client.get(f"/coach/chart/{name}.png")
            assert chart.status_code == 200
            parts[name] = time.perf_counter() - t0
        totals.append(time.perf_counter() - started)
    filtered = []
    for query in (
        "?campaign=linkedin-engpass&demo=demo",
        "?from=2026-01-01&to=2026-03-31",
        "?quality=clean",
        "?quality=flagged&from=2026-01-01&to=2026-03-31",
    ):
        coach.clear_cache()
        started = time.perf_counter()
        client.get("/coach/" + query)
        for name in coach.CHART_NAMES:
            client.get(f"/coach/chart/{name}.png{query}")
        filtered.append(round(time.perf_counter() - started, 3))
    leads_started = time.perf_counter()
    assert client.get("/coach/leads?page=3").status_code == 200
    leads_seconds = time.perf_counter() - leads_started
    return {
        "dashboard_cold_best_s": round(min(totals), 3),
        "dashboard_cold_worst_s": round(max(totals), 3),
        "last_run_parts_s": {k: round(v, 3) for k, v in parts.items()},
        "dashboard_cold_filtered_s": filtered,
        "leads_page_3_s": round(leads_seconds, 3),
    }


def csv_child(url: str) -> None:
    """In a fresh process: stream the whole CSV export and report peak RSS along the way."""
    app = _app(url)
    client = app.test_client()
    client.post("/coach/login", data={"email": "bench@example.com", "password": PASSWORD})
    client.get("/coach/leads?page=1")  # warm up imports and templates
    before = _vm_hwm_mb()
    started = time.perf_counter()
    response = client.get("/coach/leads.csv", buffered=False)
    lines = 0
    size = 0
    at_checkpoint = None
    for chunk in response.response:
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        size += len(data)
        lines += data.count(b"\n")
        if at_checkpoint is None and lines - 1 >= CHECKPOINT:
            at_checkpoint = {"rows": lines - 1, "vm_hwm_mb": round(_vm_hwm_mb(), 1)}
    response.close()
    print(
        json.dumps(
            {
                "rows": lines - 1,
                "csv_mb": round(size / 1e6, 1),
                "seconds": round(time.perf_counter() - started, 1),
                "vm_hwm_before_export_mb": round(before, 1),
                "vm_hwm_at_100k_rows": at_checkpoint,
                "vm_hwm_at_end_mb": round(_vm_hwm_mb(), 1),
            }
        )
    )


def csv_peak(url: str) -> dict[str, Any]:
    """Run csv_child in a subprocess so its peak RSS is the export's alone."""
    out = subprocess.run(
        [sys.executable, __file__, "--csv-child", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _number(value: Any) -> int | float:
    """A figure PostgreSQL returns as a Decimal (a SUM), as JSON's number."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not a figure: {type(value).__name__}")


def main() -> None:
    """Parse arguments, run the benchmarks, print the figures and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--only", choices=["all", "followups"], default="all", help="followups: only issue 24's"
    )
    parser.add_argument(
        "--followup-takers",
        type=int,
        help="write the follow-up counters this many takers would leave (see above)",
    )
    parser.add_argument("--csv-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.csv_child:
        csv_child(args.csv_child)
        return
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.rows.split(",")]
    summary = []
    for name in ("sqlite", "postgresql"):
        if args.db not in (name, "both"):
            continue
        for rows in sizes:
            if name == "sqlite":
                url = f"sqlite:///{BENCH_DIR / f'bench-{rows}.sqlite3'}"
            else:
                url = _pg_url(rows)
                _ensure_pg_database(url)
            print(f"== {name}: {rows} demo takers", flush=True)
            figures = prepare(url, rows, args.only, args.followup_takers)
            if args.only == "followups":
                figures |= followup_timings(url)
                print(json.dumps(figures, indent=2, default=_number), flush=True)
                continue
            figures |= followup_timings(url)  # first: a fresh process, nothing cached
            figures |= quality_timings(url)  # first of the pages: its first request is cold
            figures |= dashboard_timings(url)
            figures |= funnel_timings(url)
            figures["csv_export"] = csv_peak(url)
            print(json.dumps(figures, indent=2, default=_number), flush=True)
            summary.append((name, rows, figures))
    if not summary:
        return
    print(
        "\n== summary (target: cold dashboard and quality page under 1 s; "
        "CSV peak RSS flat in the row count)"
    )
    for name, rows, figures in summary:
        seeded = f"seeded in {figures['seed_seconds']} s, " if "seed_seconds" in figures else ""
        best, worst = figures["dashboard_cold_best_s"], figures["dashboard_cold_worst_s"]
        csv = figures["csv_export"]
        print(
            f"{name:10} {rows:>9} takers: {seeded}dashboard cold {best}-{worst} s "
            f"({'under' if best < TARGET_SECONDS else 'OVER'} target), "
            f"without flagged responses {figures['dashboard_cold_filtered_s'][2]} s, "
            f"experiment page cold {figures['experiment_page_cold_s']} s, "
            f"sources CSV {figures['sources_csv_s']} s, "
            f"follow-up figures cold {figures['followup_figures_cold_s']['all']} s, "
            f"quality page cold {figures['quality_page_first_s']} s "
            f"({'under' if figures['quality_page_first_s'] < TARGET_SECONDS else 'OVER'} target), "
            f"CSV of {csv['rows']} leads peak RSS {csv['vm_hwm_at_end_mb']} MB "
            f"(before the export {csv['vm_hwm_before_export_mb']} MB)"
        )


if __name__ == "__main__":
    main()
