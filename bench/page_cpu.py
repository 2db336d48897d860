"""CPU time per request of the hot public pages, in process, and where it goes (issue 22).

Run: `.venv/bin/python bench/page_cpu.py [--requests N] [--profile PAGE]`. Builds the app as
bench/quiz_load.py's server does (production settings, SQLite in a temporary folder, an A/B test
of the landing headline running), then calls the WSGI app directly, without a server or the test
client, with the requests wrk sends: `/healthz`, the landing page (a browser's User-Agent, UTM
parameters and a referrer: every request a counted visit), a quiz page of a taker in the middle
of the quiz and a result page, the last two also with `Accept-Encoding: gzip`. Prints the CPU
microseconds per request (`time.process_time`, the best of interleaved rounds) and each page's share of
`/healthz`'s: what its throughput would be if CPU-bound and the server cost nothing. Unlike wall
throughput these figures hold on a machine shared with other work. `--profile PAGE` adds
cProfile's 25 costliest functions (cumulative) for that page.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per page and round")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--profile", help="a page to profile: landing, quiz, result, ...")
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
        for name, us in figures.items():
            share = f"  = {figures['healthz'] / us:6.1%} of healthz" if name != "healthz" else ""
            print(f"  {name:<12}{us:8.0f} µs{share}")
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


if __name__ == "__main__":
    main()
