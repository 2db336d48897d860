"""Benchmark of the PDF report (issues 16 and 21): render time, stored downloads, the quiz meanwhile,
and the PDF rendered in the background before anyone asks.

Run: `.venv/bin/python bench/report_pdf.py` (or `make bench-report`; `--render-only` for part 1 alone,
`--background-only` for part 3 alone). Prints, from one run:
1. the render time of one report in this process (HTML from the stored result, the SVG chart and
   WeasyPrint), median and max of 20 (target: median under 1.5 s);
2. under gunicorn (2 sync workers, SQLite, as bench/quiz_load.py), with no background renderer:
   the on-demand fallback's first download and the median latency of a stored PDF download next
   to the result page's, 200 sequential requests each; the mixed load of bench/quiz_load.py
   (16 takers completing the quiz) alone, and with 10 concurrent first downloads rendered on
   demand (each following the "being prepared" page as a browser does, every 2 s), the p99 of
   the quiz pages in the window while those render (target: under 250 ms);
3. with `flask --app quiz render-pdfs --watch --interval 2` running beside gunicorn, as `make run`
   and the systemd unit do: the 16-taker mixed load where every taker opens the PDF link 10 s
   after finishing (target: the PDF in under 1.5 s for 95 % of takers), and a burst of 30
   simultaneous finishes during that load (target: the last PDF stored within 45 s, the quiz's
   p99 meanwhile under 250 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import os
import random
import sqlite3
import statistics
import subprocess
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
from quiz_load import CONTENT, CSRF, Server, Taker, request  # noqa: E402

from quiz.domain.scoring import sample_answers  # noqa: E402

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
    answers = sample_answers(quiz_load.CONTENT, "worst", seed=1)  # the most text
    finished = complete_quiz(client, app, answers=answers, first_name="Ada")
    token = finished.headers["Location"].rsplit("/r/", 1)[1]
    times, cpu = [], []
    with app.test_request_context():
        response = db.session.scalar(db.select(Response).where(Response.result_token == token))
        pdf_render.render_pdf(pdf_job.build(response, None))  # warm-up: fonts, imports
        # As a render process does after its first PDF (quiz.taker.pdf_render._settle).
        gc.collect()
        gc.freeze()
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
    """Seconds until the PDF arrives, reloading the "being prepared" page as it asks (its
    meta refresh, the same seconds as its Retry-After)."""
    started = time.perf_counter()
    while True:
        status, headers, _ = request(port, "GET", path + "/bericht.pdf")
        if status == 200 and headers.get("content-type") == "application/pdf":
            return time.perf_counter() - started
        if status != 202:
            raise RuntimeError(f"PDF download: {status}")
        time.sleep(float(headers.get("retry-after", "2")))


class TimedTaker(Taker):
    """A taker that also records when each request started, and may pause like a person: after
    each page sent, between half and one and a half times `pause` seconds of reading and
    choosing before the next request (drawn per page, so takers do not move in step)."""

    def __init__(
        self, port: int, seed: int, events: list[tuple[float, str, float]], pause: float = 0.0
    ) -> None:
        super().__init__(port, seed)
        self.events = events
        self.pause = pause
        self.rng = random.Random(seed)

    def call(self, timings, step, method, path, body=None):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        result = super().call(timings, step, method, path, body)
        self.events.append((started, step, time.perf_counter() - started))
        if self.pause and method == "POST":
            time.sleep(self.pause * self.rng.uniform(0.5, 1.5))
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


def start_renderer(server: Server) -> subprocess.Popen[bytes]:
    """The background renderer beside gunicorn, on the same database and instance folder."""
    flask = Path(sys.executable).parent / "flask"
    return subprocess.Popen(
        [str(flask), "--app", "quiz", "render-pdfs", "--watch", "--interval", "2"],
        env=server.env,
        cwd=server.dir,
        stdout=subprocess.DEVNULL,
    )


def waiting_pdfs(server: Server) -> int:
    """PDFs queued and not yet stored."""
    with sqlite3.connect(server.dir / "bench.sqlite3", timeout=30) as conn:
        return int(
            conn.execute("SELECT count(*) FROM result_reports WHERE pdf IS NULL").fetchone()[0]
        )


def _quiz_p99(
    events: list[tuple[float, str, float]], start: float, end: float
) -> tuple[int, float]:
    quiz = sorted(
        duration
        for started, step, duration in events
        if start <= started <= end and any(word in step for word in QUIZ_STEPS)
    )
    return len(quiz), _p99(quiz)


def first_views(
    server: Server, takers: int, seconds: float, delay: float, pause: float = 0.0
) -> None:
    """The mixed load; every taker opens the PDF link `delay` seconds after finishing."""
    events: list[tuple[float, str, float]] = []
    opened: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds
    fetchers: list[threading.Timer] = []
    finishes: list[float] = []
    late: list[float] = []  # when the takers whose PDF took 1.5 s or more had finished
    lock = threading.Lock()

    def fetch(path: str) -> None:
        finished_at = time.perf_counter() - started - delay
        try:
            took = download(server.port, path)
            with lock:
                opened.append(took)
                if took >= 1.5:
                    late.append(finished_at)
        except Exception as exc:
            errors.append(repr(exc))

    def taker(index: int) -> None:
        seed = 7_000_000 + index * 100_000
        while time.perf_counter() < deadline:
            seed += 1
            try:
                path = TimedTaker(server.port, seed, events, pause).run(defaultdict(list))
            except Exception as exc:  # counted, not fatal
                errors.append(repr(exc))
                continue
            with lock:
                finishes.append(time.perf_counter())
            if time.perf_counter() + delay <= deadline:
                timer = threading.Timer(delay, fetch, args=(path,))
                with lock:
                    fetchers.append(timer)
                timer.start()

    threads = [threading.Thread(target=taker, args=(i,)) for i in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for timer in list(fetchers):
        timer.join()
    n, p99 = _quiz_p99(events, started, deadline)
    fast = sum(1 for value in opened if value < 1.5)
    ordered = sorted(opened)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] if ordered else float("nan")
    paced = f", pausing {pause:g} s after each page" if pause else ", without pausing"
    print(
        f"\nFirst view {delay:g} s after finishing, {takers} takers{paced} for {seconds:g} s "
        f"with the background renderer (load average {os.getloadavg()[0]:.1f}):"
    )
    print(f"  finishes: {len(finishes)} ({len(finishes) / seconds:.1f} a second)")
    print(
        f"  PDFs opened: {len(opened)}; under 1.5 s: {fast} ({fast / max(1, len(opened)):.0%}, "
        f"target >= 95 %); p95 {p95:.2f} s, " + _spread(opened)
    )
    if late:
        shown = sorted(late)[:20]
        more = f" and {len(late) - len(shown)} more" if len(late) > len(shown) else ""
        print(
            "  those over 1.5 s had finished at (s into the load): "
            + ", ".join(f"{value:.0f}" for value in shown)
            + more
        )
    print(f"  errors: {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))
    print(f"  quiz requests (all steps) n={n:5d}  p99 {p99 * 1000:7.1f} ms (target < 250 ms)")
    print(f"  PDFs still waiting at the end: {waiting_pdfs(server)}")


def _to_lead_step(taker: Taker) -> str:
    """Walk a taker up to the last step; the lead form's CSRF token."""
    timings: dict[str, list[float]] = defaultdict(list)
    _, _, landing = taker.call(timings, "landing", "GET", "/")
    token = CSRF.search(landing).group(1)  # type: ignore[union-attr]
    taker.call(timings, "start", "POST", "/quiz/start", {"csrf_token": token})
    for number, page in enumerate(CONTENT.pages, 1):
        _, _, form = taker.call(timings, "step", "GET", f"/quiz/{number}")
        body = {"csrf_token": CSRF.search(form).group(1), "action": "next"}  # type: ignore[union-attr]
        body |= {q.id: taker.answers[q.id] for q in page.questions}
        taker.call(timings, "step", "POST", f"/quiz/{number}", body)
    taker.answer_extra_page(timings)
    _, _, form = taker.call(timings, "lead", "GET", f"/quiz/{len(CONTENT.pages) + 1}")
    return CSRF.search(form).group(1)  # type: ignore[union-attr,no-any-return]


def burst(server: Server, count: int, takers: int, limit: float, pause: float = 0.0) -> None:
    """`count` takers finish at the same moment during the mixed load; until their PDFs are
    stored: how long, and the quiz's p99 meanwhile."""
    ready = [(Taker(server.port, seed=800_000 + i), "") for i in range(count)]
    ready = [(taker, _to_lead_step(taker)) for taker, _ in ready]
    events: list[tuple[float, str, float]] = []
    stop = threading.Event()
    tokens: list[str] = []
    gate = threading.Barrier(count)

    def load(index: int) -> None:
        seed = 9_000_000 + index * 100_000
        while not stop.is_set():
            seed += 1
            with contextlib.suppress(Exception):
                TimedTaker(server.port, seed, events, pause).run(defaultdict(list))

    def finish(taker: Taker, csrf: str) -> None:
        body = {"csrf_token": csrf, "action": "finish", "email": f"burst{id(taker)}@example.com"}
        gate.wait()
        status, headers, _ = taker.call(
            defaultdict(list),
            "finish",
            "POST",
            f"/quiz/{len(CONTENT.pages) + 1}",
            body | {"consent_data": "y"},
        )
        if status == 302 and "/r/" in headers.get("location", ""):
            tokens.append(headers["location"].split("/r/", 1)[1])

    threads = [threading.Thread(target=load, args=(i,)) for i in range(takers)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    finishers = [threading.Thread(target=finish, args=pair) for pair in ready]
    started = time.perf_counter()
    for thread in finishers:
        thread.start()
    for thread in finishers:
        thread.join()
    finished = time.perf_counter() - started
    marks = ",".join("?" * len(tokens))
    stored = 0
    with sqlite3.connect(server.dir / "bench.sqlite3", timeout=30) as conn:
        while time.perf_counter() - started < limit:
            stored = conn.execute(
                "SELECT count(*) FROM result_reports r JOIN responses s ON s.id = r.response_id"
                f" WHERE r.pdf IS NOT NULL AND s.result_token IN ({marks})",
                tokens,
            ).fetchone()[0]
            if stored == len(tokens):
                break
            time.sleep(0.25)
    took = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    n, p99 = _quiz_p99(events, started, started + took)
    after_n, after_p99 = _quiz_p99(events, started + finished, started + took)
    paced = f", pausing {pause:g} s after each page" if pause else ""
    print(
        f"\nBurst of {count} simultaneous finishes during the {takers}-taker load{paced} "
        f"(load average {os.getloadavg()[0]:.1f}):"
    )
    print(f"  finishes answered in {finished:.1f} s; results: {len(tokens)}")
    state = "the last PDF stored" if stored == len(tokens) else f"only {stored} stored"
    print(f"  {state} after {took:.1f} s (target < 45 s)")
    print(f"  quiz requests (all steps) n={n:5d}  p99 {p99 * 1000:7.1f} ms (target < 250 ms)")
    print(
        f"  of those, after the {len(tokens)} finishes were answered (while their PDFs render): "
        f"n={after_n:5d}  p99 {after_p99 * 1000:7.1f} ms"
    )


def drain(server: Server, limit: float) -> None:
    """Wait (without load) until the queue is empty, at most `limit` seconds."""
    started = time.perf_counter()
    waiting = waiting_pdfs(server)
    while waiting_pdfs(server) and time.perf_counter() - started < limit:
        time.sleep(0.5)
    took = time.perf_counter() - started
    print(
        f"\n  the {waiting} PDFs still waiting were stored without the load in {took:.1f} s "
        f"({waiting_pdfs(server)} left; load average {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--takers", type=int, default=16)
    parser.add_argument("--mixed-seconds", type=float, default=25)
    parser.add_argument("--downloads", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--first-view-seconds", type=float, default=60)
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument(
        "--burst-takers", type=int, default=16, help="takers of the quiz load during the burst"
    )
    parser.add_argument(
        "--background-only", action="store_true", help="only part 3: the background renderer"
    )
    parser.add_argument(
        "--page-seconds",
        type=float,
        default=0.0,
        help="part 3: the takers pause this long after each page they send, as people read and "
        "choose (default 0: they answer without pausing, the load of issue 21)",
    )
    parser.add_argument(
        "--render-only", action="store_true", help="only part 1: the render's time and CPU"
    )
    args = parser.parse_args()

    if args.render_only:
        render_figures(args.renders)
        return
    if not args.background_only:
        on_demand(args)
    server = Server(args.workers)
    renderer = start_renderer(server)
    try:
        first_views(
            server, args.takers, args.first_view_seconds, delay=10.0, pause=args.page_seconds
        )
        drain(server, 120)
        burst(server, args.burst, args.burst_takers, limit=120, pause=args.page_seconds)
    finally:
        renderer.terminate()
        renderer.wait(timeout=30)
        try:
            server.stop()
        except subprocess.TimeoutExpired:  # a heavily loaded machine: gunicorn ends late
            server.process.kill()


def render_figures(renders: int) -> None:
    """Part 1: the render of one report in this process, wall and CPU time."""
    times, cpu = render_times(renders)
    print(f"Render of one report in-process ({renders} runs, after one warm-up)")
    print(
        f"  wall: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        " (target: median < 1500 ms)"
    )
    print(
        f"  CPU:  median {statistics.median(cpu) * 1000:.0f} ms, min {min(cpu) * 1000:.0f} ms,"
        f" max {max(cpu) * 1000:.0f} ms"
    )
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def on_demand(args: argparse.Namespace) -> None:
    """Parts 1 and 2: the render itself, and the on-demand fallback without a renderer."""
    render_figures(args.renders)

    server = Server(args.workers)
    try:
        path = Taker(server.port, seed=1).run(defaultdict(list))
        first = download(server.port, path)
        result_ms = latency(server.port, path, 200) * 1000
        stored_ms = latency(server.port, path + "/bericht.pdf", 200) * 1000
        print(
            f"\nUnder gunicorn -w {args.workers} (SQLite), no background renderer: "
            f"first download (on demand) {first:.1f} s"
        )
        print(f"  result page          median {result_ms:6.1f} ms")
        print(f"  stored PDF download  median {stored_ms:6.1f} ms")
        mixed(server, args.takers, args.mixed_seconds, [])
        fresh = [Taker(server.port, seed=900 + i).run(defaultdict(list)) for i in range(10)]
        mixed(server, args.takers, args.mixed_seconds, fresh[: args.downloads])
    finally:
        server.stop()


if __name__ == "__main__":
    main()
