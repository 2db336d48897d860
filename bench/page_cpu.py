"""CPU time per request of the hot public pages, and where it goes (issue 22).

Run: `.venv/bin/python bench/page_cpu.py [--requests N] [--rounds N] [--profile PAGE]
[--gunicorn SECONDS]`. Builds the app as bench/quiz_load.py's server does (production settings,
SQLite in a temporary folder, an A/B test of the landing headline running), then calls the WSGI
app directly, without a server or the test client, with the requests wrk sends: `/healthz`, the
landing page (a browser's User-Agent, UTM parameters and a referrer: every request a counted
visit), a quiz page of a taker in the middle of the quiz and a result page, the last two also
with `Accept-Encoding: gzip`. Prints the CPU microseconds per request (`time.process_time`, the
best of interleaved rounds) and each page's share of `/healthz`'s: what its throughput would be
if CPU-bound and the server cost nothing. Unlike wall throughput these figures hold on a machine
shared with other work. `--profile PAGE` adds cProfile's costliest functions for that page.
`--gunicorn SECONDS` then sends the same requests with wrk to `gunicorn -w 1` and prints the
worker's CPU time per request (from /proc): the server's own work included, as in
`make bench-quiz`, and still unaffected by other work on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/140 Safari/537.36",
    "Referer": "https://www.linkedin.com/feed/",
}


def start_experiment() -> None:
    """An A/B test of the landing headline, running (the landing view draws for it)."""
    from quiz.experiments import lifecycle

    variants = [lifecycle.VariantInput("A", "Erste"), lifecycle.VariantInput("B", "Zweite")]
    experiment = lifecycle.create("Bench", "landing_headline", "start", variants, "bench")
    lifecycle.change(experiment, "started", "bench")


def prepare(folder: Path) -> None:
    """Production settings on a fresh, migrated SQLite database in `folder`."""
    os.environ.update(
        {
            "QUIZ_ENV": "production",
            "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "QUIZ_INSTANCE_PATH": str(folder),
            "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
            "QUIZ_RATELIMIT": "false",
            "QUIZ_LOG_LEVEL": "WARNING",
        }
    )
    flask = Path(sys.executable).parent / "flask"
    subprocess.run([str(flask), "--app", "quiz", "db", "upgrade"], check=True, capture_output=True)


def take_quiz(app: Any) -> tuple[str, str]:
    """A finished taker's result path, and the cookies of a taker on the first quiz page."""
    from quiz.app_state import get_content
    from quiz.domain.flow import extra_page, sample_taker

    with app.app_context():
        content = get_content()
    answers = sample_taker(content, "random", seed=1)
    client = app.test_client()

    def token(path: str) -> str:
        match = CSRF.search(client.get(path).get_data(as_text=True))
        assert match is not None, path
        return match.group(1)

    client.post("/quiz/start", data={"csrf_token": token("/")})
    for number, page in enumerate(content.pages, 1):
        body = {"csrf_token": token(f"/quiz/{number}"), "action": "next"}
        body |= {q.id: answers[q.id] for q in page.questions}
        assert client.post(f"/quiz/{number}", data=body).status_code == 302
    due = extra_page(content, answers)
    if due:
        body = {"csrf_token": token("/quiz/zusatz"), "action": "next"}
        body |= {q: answers[q] for q in due}
        assert client.post("/quiz/zusatz", data=body).status_code == 302
    last = len(content.pages) + 1
    body = {
        "csrf_token": token(f"/quiz/{last}"),
        "action": "finish",
        "email": "bench@example.com",
        "consent_data": "y",
    }
    location = client.post(f"/quiz/{last}", data=body).headers["Location"]
    result = "/r/" + location.split("/r/", 1)[1]
    client = app.test_client()  # a second taker, on the first page
    client.post("/quiz/start", data={"csrf_token": token("/")})
    assert "Schritt 1 von" in client.get("/quiz/1").get_data(as_text=True)
    cookies = (client.get_cookie(name) for name in ("session", "quiz_draft"))
    return result, "; ".join(f"{c.key}={c.value}" for c in cookies if c is not None)


def targets(result: str, cookie: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The requests measured, as wrk sends them in bench/quiz_load.py."""
    gzip = {"Accept-Encoding": "gzip"}
    return {
        "healthz": ("/healthz", {}),
        "landing": ("/?utm_source=linkedin&utm_medium=social&utm_campaign=bench", BROWSER),
        "quiz": ("/quiz/1", {"Cookie": cookie}),
        "quiz-gzip": ("/quiz/1", {"Cookie": cookie, **gzip}),
        "result": (result, {}),
        "result-gzip": (result, gzip),
    }


def caller(app: Any, path: str, headers: dict[str, str]) -> Callable[[], None]:
    """One request to the WSGI app, as a server would make it (a fresh environ each time)."""
    environ = EnvironBuilder(path=path, headers=headers).get_environ()
    environ["wsgi.input"].read()  # an empty body, read once; copies share the empty stream

    def start_response(status: str, _headers: Iterable[Any], _exc: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"{path}: {status}")

    def call() -> None:
        body = app(dict(environ), start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return call


def cpu_us(calls: dict[str, Callable[[], None]], requests: int, rounds: int) -> dict[str, float]:
    """CPU microseconds per request of each call, the best of `rounds` interleaved runs of
    `requests` requests each (a burst of other work on the machine hits every page alike)."""
    for call in calls.values():
        for _ in range(50):  # warm the caches
            call()
    runs: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.process_time()
            for _ in range(requests):
                call()
            runs[name].append((time.process_time() - started) / requests * 1e6)
    return {name: min(values) for name, values in runs.items()}


def gunicorn_cpu(rounds: int, seconds: int) -> None:
    """The same requests against `gunicorn -w 1` (bench/quiz_load.py's server), each page for
    `seconds` with wrk in interleaved rounds: the worker's CPU time (user and system, from
    /proc) per request, server included, best of the rounds."""
    import quiz_load  # bench/quiz_load.py, beside this file

    binary = quiz_load.ensure_wrk()
    server = quiz_load.Server(1)
    try:
        server.python(quiz_load.START_EXPERIMENT)
        result = quiz_load.Taker(server.port, seed=1).run(defaultdict(list))
        draft = quiz_load.Taker(server.port, seed=2)
        _, _, landing = quiz_load.request(server.port, "GET", "/", cookies=draft.cookies)
        token = quiz_load.CSRF.search(landing)
        assert token is not None
        start = {"csrf_token": token.group(1)}
        quiz_load.request(server.port, "POST", "/quiz/start", start, draft.cookies)
        cookie = "; ".join(f"{name}={value}" for name, value in draft.cookies.items())
        workers = subprocess.run(
            ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=True
        )
        worker = int(workers.stdout.split()[0])
        base = f"http://127.0.0.1:{server.port}"
        runs: dict[str, list[float]] = defaultdict(list)
        for _ in range(rounds):
            for name, (path, headers) in targets(result, cookie).items():
                command = [binary, "-t1", "-c2", f"-d{seconds}s", base + path]
                for header in headers.items():
                    command[1:1] = ["-H", ": ".join(header)]
                before = _cpu_seconds(worker)
                output = subprocess.run(command, capture_output=True, text=True, check=True)
                used = _cpu_seconds(worker) - before
                if "Non-2xx" in output.stdout:
                    raise RuntimeError(f"{path}: error responses\n{output.stdout}")
                done = re.search(r"(\d+) requests in", output.stdout)
                assert done is not None
                runs[name].append(used / int(done.group(1)) * 1e6)
    finally:
        server.stop()
        server.remove()
    figures = {name: min(values) for name, values in runs.items()}
    print(f"CPU per request of the gunicorn worker (best of {rounds} rounds of {seconds} s)")
    _print(figures)


def _cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, user and system (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _print(figures: dict[str, float]) -> None:
    for name, us in figures.items():
        share = f"  = {figures['healthz'] / us:6.1%} of healthz" if name != "healthz" else ""
        print(f"  {name:<12}{us:8.0f} µs{share}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per page and round")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--profile", help="a page to profile: landing, quiz, result, ...")
    parser.add_argument(
        "--gunicorn", type=int, metavar="SECONDS", help="also under gunicorn, SECONDS per page"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quiz-cpu-") as folder:
        prepare(Path(folder))
        from quiz import create_app

        app = create_app()
        with app.app_context():
            start_experiment()
        result, cookie = take_quiz(app)
        calls = {name: caller(app, *target) for name, target in targets(result, cookie).items()}
        figures = cpu_us(calls, args.requests, args.rounds)
        print(f"CPU per request (WSGI in process, best of {args.rounds} rounds of {args.requests})")
        _print(figures)
        if args.profile:
            profiler = cProfile.Profile()
            call = calls[args.profile]
            profiler.enable()
            for _ in range(args.requests):
                call()
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(25)
            print(out.getvalue())
    if args.gunicorn:
        gunicorn_cpu(min(args.rounds, 3), args.gunicorn)


if __name__ == "__main__":
    main()
