"""Backup and restore at 100,000 takers: how long `backup` takes and how large the file is.

    .venv/bin/python bench/backup.py [--takers 100000] [--db sqlite|postgresql|both] [--runs 3]

For each database, seeds TAKERS demo takers with `flask --app quiz seed-demo` into a bench
database of its own (SQLite `BENCH_DIR/backup-TAKERS.sqlite3`, PostgreSQL database
`bench_backup_TAKERS` on BENCH_PG_URL's server) unless it holds that many already, then runs
the operator's commands as an operator would, each in a process of its own:

- `flask --app quiz backup FOLDER` RUNS times: wall time (best and median) and the file's size,
  next to the database's own size;
- `flask --app quiz restore FILE --without-deletion-log` into an empty database (a new SQLite
  file, a new PostgreSQL database): the time the restore reports for itself (the copy put in,
  every table's row count compared, the retention applied), and the command's wall time, which
  adds the counters' check it ends with (`rebuild-rollups --check`, mostly the item statistics'
  recount).

The bench databases stay for the next run (about 0.5 GB in SQLite); the backups and restored
databases are deleted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/quiz-bench"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/bench")
FLASK = str(ROOT / ".venv" / "bin" / "flask")
SECRET = "bench-secret-key-0123456789-0123456789-0123456789"


def flask(database: str, instance: Path, *args: str) -> tuple[float, str]:
    """Run one `flask --app quiz` command on `database`; its wall time and output."""
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "QUIZ_INSTANCE_PATH": str(instance),
        "SECRET_KEY": SECRET,
    }
    started = time.perf_counter()
    run = subprocess.run(
        [FLASK, "--app", "quiz", *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")
    return seconds, run.stdout


def admin(statement: str) -> str:
    """Run SQL on the PostgreSQL server's maintenance database."""
    url = PG_URL.rsplit("/", 1)[0] + "/postgres"
    run = subprocess.run(
        ["psql", "-qAt", url, "-c", statement], capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


def prepare(kind: str, database: str, instance: Path, takers: int) -> None:
    """Migrate, and seed TAKERS demo takers unless the database holds them already."""
    flask(database, instance, "db", "upgrade")
    if _responses(kind, database) == takers:
        return
    print(f"  seeding {takers} demo takers ...", flush=True)
    flask(database, instance, "seed-demo", "--remove")
    seconds, _ = flask(database, instance, "seed-demo", str(takers), "--seed", "1")
    print(f"  seeded in {seconds:.0f} s", flush=True)


def bench(kind: str, takers: int, runs: int) -> dict[str, float]:
    """Seed, back up RUNS times, restore once; the figures."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    instance = BENCH_DIR / f"backup-instance-{kind}"
    instance.mkdir(exist_ok=True)
    if kind == "sqlite":
        path = BENCH_DIR / f"backup-{takers}.sqlite3"
        database = f"sqlite:///{path}"
    else:
        name = f"bench_backup_{takers}"
        if not admin(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            admin(f'CREATE DATABASE "{name}"')
        database = PG_URL.rsplit("/", 1)[0] + "/" + name
    print(f"{kind}: preparing {takers} takers", flush=True)
    prepare(kind, database, instance, takers)
    responses = _responses(kind, database)
    size = (
        path.stat().st_size
        if kind == "sqlite"
        else int(admin(f"SELECT pg_database_size('bench_backup_{takers}')"))
    )
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="quiz-bench-backup-", dir=BENCH_DIR) as scratch:
        folder = Path(scratch)
        for run in range(runs):
            target = folder / f"run-{run}.zip"
            seconds, _ = flask(database, instance, "backup", str(target))
            times.append(seconds)
        file_size = (folder / "run-0.zip").stat().st_size
        restored_instance = folder / "restored"
        restored_instance.mkdir()
        if kind == "sqlite":
            target_db = f"sqlite:///{folder / 'restored.sqlite3'}"
        else:
            admin('DROP DATABASE IF EXISTS "bench_backup_restored"')
            admin('CREATE DATABASE "bench_backup_restored"')
            target_db = PG_URL.rsplit("/", 1)[0] + "/bench_backup_restored"
        restore_seconds, out = flask(
            target_db,
            restored_instance,
            "restore",
            str(folder / "run-0.zip"),
            "--without-deletion-log",
        )
        restore_own = float(re.search(r"\) in ([\d.]+) s;", out)[1])  # type: ignore[index]
        if "differing before the rebuild: 0" not in out:
            raise SystemExit(f"the restored counters differ:\n{out}")
        if kind == "postgresql":
            admin('DROP DATABASE "bench_backup_restored"')
    return {
        "responses": responses,
        "database_mb": size / 1e6,
        "backup_best_s": min(times),
        "backup_median_s": statistics.median(times),
        "file_mb": file_size / 1e6,
        "restore_s": restore_own,
        "restore_with_check_s": restore_seconds,
    }


def _responses(kind: str, database: str) -> int:
    if kind == "sqlite":
        run = subprocess.run(
            ["sqlite3", database.removeprefix("sqlite:///"), "SELECT count(*) FROM responses"],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(run.stdout)
    run = subprocess.run(
        ["psql", "-qAt", database, "-c", "SELECT count(*) FROM responses"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--takers", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if shutil.which("sqlite3") is None:
        raise SystemExit("bench/backup.py needs the sqlite3 command (Debian: sqlite3)")
    results = {kind: bench(kind, args.takers, args.runs) for kind in kinds}
    print()
    print(
        f"{'database':<11}{'responses':>10}{'db MB':>9}{'backup best':>13}{'median':>9}"
        f"{'file MB':>9}{'restore':>9}{'+ check':>9}"
    )
    for kind, r in results.items():
        print(
            f"{kind:<11}{r['responses']:>10.0f}{r['database_mb']:>9.1f}{r['backup_best_s']:>12.2f}s"
            f"{r['backup_median_s']:>8.2f}s{r['file_mb']:>9.1f}{r['restore_s']:>8.1f}s"
            f"{r['restore_with_check_s']:>8.1f}s"
        )


if __name__ == "__main__":
    main()
