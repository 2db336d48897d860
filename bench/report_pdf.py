"""Benchmark of the PDF report (issue 16): render time, stored downloads, and the quiz meanwhile.

Run: `.venv/bin/python bench/report_pdf.py` (or `make bench-report`). Prints, from one run:
1. the render time of one report in this process (HTML from the stored result, the SVG chart and
   WeasyPrint), median and max of 20 (target: median under 1.5 s);
2. under gunicorn (2 sync workers, SQLite, as bench/quiz_load.py): the median latency of a
   stored PDF download next to the result page's, 200 sequential requests each;
3. the mixed load of bench/quiz_load.py (16 takers completing the quiz) twice: alone, and with
   10 concurrent first downloads of 10 new results fired during it (each following the
   "being prepared" page as a browser does, every 2 s); the p99 of the quiz pages in the window
   while those render (target: under 250 ms), and how long the downloads took.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import quiz_load  # noqa: E402
from quiz_load import Server, Taker, request  # noqa: E402

QUIZ_STEPS = ("landing", "start", "step", "lead")


def render_times(count: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per report: the job built from a stored result, rendered here.

    The CPU time does not grow when other processes share the cores; the wall time does.
    """
    from flask_migrate import upgrade

    from quiz import create_app
    from quiz.extensions import db
    from quiz.models import Response
    from quiz.taker import pdf_job, pdf_render
    from tests.quizflow import complete_quiz

    folder = Path(tempfile.mkdtemp(prefix="quiz-report-bench-"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
            "RATELIMIT_ENABLED": False,
            "MAIL_DIR": str(folder / "mail"),
        }
    )
    with app.app_context():
        upgrade()
    client = app.test_client()
    answers = quiz_load.sample_answers(quiz_load.CONTENT, "worst", seed=1)  # the most text
    finished = complete_quiz(client, app, answers=answers, first_name="Ada")
    token = finished.headers["Location"].rsplit("/r/", 1)[1]
    times, cpu = [], []
    with app.test_request_context():
        response = db.session.scalar(db.select(Response).where(Response.result_token == token))
        pdf_render.render_pdf(pdf_job.build(response, None))  # warm-up: fonts, imports
        for _ in range(count):
            started, cpu_started = time.perf_counter(), time.process_time()
            pdf_render.render_pdf(pdf_job.build(response, None))
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    return times, cpu


def latency(port: int, path: str, count: int) -> float:
    """Median seconds of `count` sequential GETs over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    values = []
    for _ in range(count):
        started = time.perf_counter()
        status, _, _ = request(port, "GET", path, conn=conn)
        values.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"{path}: {status}")
    conn.close()
    return statistics.median(values)


def download(port: int, path: str) -> float:
    """Seconds until the PDF arrives, reloading the "being prepared" page every 2 s."""
    started = time.perf_counter()
    while True:
        status, headers, _ = request(port, "GET", path + "/bericht.pdf")
        if status == 200 and headers.get("content-type") == "application/pdf":
            return time.perf_counter() - started
        if status != 202:
            raise RuntimeError(f"PDF download: {status}")
        time.sleep(2)


class TimedTaker(Taker):
    """A taker that also records when each request started."""

    def __init__(self, port: int, seed: int, events: list[tuple[float, str, float]]) -> None:
        super().__init__(port, seed)
        self.events = events

    def call(self, timings, step, method, path, body=None):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        result = super().call(timings, step, method, path, body)
        self.events.append((started, step, time.perf_counter() - started))
        return result


def mixed(server: Server, takers: int, seconds: float, pdf_paths: list[str]) -> None:
    """The mixed quiz load; with `pdf_paths`, their first downloads start after 3 s."""
    events: list[tuple[float, str, float]] = []
    downloads: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    window: list[float] = []

    def taker(index: int) -> None:
        seed = 5_000_000 + index * 100_000 + (len(pdf_paths) * 7)
        while time.perf_counter() < deadline:
            seed += 1
            try:
                TimedTaker(server.port, seed, events).run(defaultdict(list))
            except Exception as exc:  # counted, not fatal
                errors.append(repr(exc))

    def downloader(path: str) -> None:
        try:
            downloads.append(download(server.port, path))
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=taker, args=(i,)) for i in range(takers)]
    for thread in threads:
        thread.start()
    fetchers = []
    if pdf_paths:
        time.sleep(3)
        window.append(time.perf_counter())
        fetchers = [threading.Thread(target=downloader, args=(p,)) for p in pdf_paths]
        for thread in fetchers:
            thread.start()
        for thread in fetchers:
            thread.join()
        window.append(time.perf_counter())
    for thread in threads:
        thread.join()
    start, end = window if window else (0.0, float("inf"))
    quiz = sorted(
        duration
        for started, step, duration in events
        if start <= started <= end and any(word in step for word in QUIZ_STEPS)
    )
    pages = sorted(
        duration
        for started, step, duration in events
        if start <= started <= end and step.startswith("GET step")
    )
    label = f"with {len(pdf_paths)} first PDF downloads" if pdf_paths else "alone"
    print(f"\nMixed load, {takers} takers, {label} (load average {os.getloadavg()[0]:.1f}):")
    if pdf_paths:
        print(f"  render window: {end - start:.1f} s; downloads took (s): " + _spread(downloads))
    print(f"  errors: {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))
    print(f"  quiz requests (all steps) n={len(quiz):5d}  p99 {_p99(quiz) * 1000:7.1f} ms")
    print(f"  quiz pages (GET step)     n={len(pages):5d}  p99 {_p99(pages) * 1000:7.1f} ms")


def _p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    return f"median {statistics.median(values):.1f}, max {max(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--takers", type=int, default=16)
    parser.add_argument("--mixed-seconds", type=float, default=25)
    parser.add_argument("--downloads", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    times, cpu = render_times(args.renders)
    print(f"Render of one report in-process ({args.renders} runs, after one warm-up)")
    print(
        f"  wall: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        " (target: median < 1500 ms)"
    )
    print(f"  CPU:  median {statistics.median(cpu) * 1000:.0f} ms, max {max(cpu) * 1000:.0f} ms")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    server = Server(args.workers)
    try:
        path = Taker(server.port, seed=1).run(defaultdict(list))
        first = download(server.port, path)
        result_ms = latency(server.port, path, 200) * 1000
        stored_ms = latency(server.port, path + "/bericht.pdf", 200) * 1000
        print(f"\nUnder gunicorn -w {args.workers} (SQLite): first download {first:.1f} s")
        print(f"  result page          median {result_ms:6.1f} ms")
        print(f"  stored PDF download  median {stored_ms:6.1f} ms")
        mixed(server, args.takers, args.mixed_seconds, [])
        fresh = [Taker(server.port, seed=900 + i).run(defaultdict(list)) for i in range(10)]
        mixed(server, args.takers, args.mixed_seconds, fresh[: args.downloads])
    finally:
        server.stop()


if __name__ == "__main__":
    main()
