"""Load benchmark of the public quiz under gunicorn (2 workers) on SQLite.

Run: `.venv/bin/python bench/quiz_load.py` (or `make bench-quiz`). Prints, from one run:
1. requests/second of /healthz, the landing page (a browser's User-Agent, UTM parameters and a
   referrer, so every request counts a visit, with an A/B test of its headline running), a quiz
   page and a result page (chart cached), measured with wrk in interleaved rounds, the pages once
   uncompressed and once with `Accept-Encoding: gzip` (the site settings read on every request,
   as always), and their ratios to bare /healthz from the medians (goal: at least 70 %); how many
   of the landing requests were counted as visits (issue 25); then the same pages' CPU time per
   request in this process (WSGI without a server, `time.process_time`), whose ratios say the
   same as the throughput's on an idle machine and hold on a busy one;
2. a mixed load: 16 concurrent takers each completing the whole quiz for 60 seconds, with errors,
   lost responses and the p99 latency of every step.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quiz.domain.content import load_content  # noqa: E402
from quiz.domain.flow import extra_page, sample_taker  # noqa: E402

CONTENT = load_content(ROOT / "content" / "questions.yaml")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is needed (Debian package 'wrk'): apt-get install wrk")
    return wrk


class Server:
    """gunicorn with N workers on a fresh, migrated SQLite database."""

    def __init__(self, workers: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="quiz-bench-"))
        self.port = free_port()
        self.env = {
            **os.environ,
            "QUIZ_ENV": "production",
            "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "QUIZ_INSTANCE_PATH": str(self.dir),
            "DATABASE_URL": f"sqlite:///{self.dir / 'bench.sqlite3'}",
            "QUIZ_RATELIMIT": "false",
            "QUIZ_LOG_LEVEL": "WARNING",
        }
        bin_dir = Path(sys.executable).parent
        subprocess.run(
            [str(bin_dir / "flask"), "--app", "quiz", "db", "upgrade"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.process = subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "-c",
                "python:quiz.gunicorn_conf",  # the production settings: redacted logs
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "quiz:create_app()",
            ],
            env=self.env,
            cwd=self.dir,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _, _ = request(self.port, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not come up")

    def python(self, code: str) -> str:
        """Run Python in the app's context against the server's database; its output."""
        script = "from quiz import create_app\napp = create_app()\nwith app.app_context():\n"
        script += "".join(f"    {line}\n" for line in code.strip().splitlines())
        return subprocess.run(
            [sys.executable, "-c", script], env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def request(
    port: int,
    method: str,
    path: str,
    body: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], str]:
    """One HTTP request; returns status, headers (lower-case) and body text."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    data = None
    if body is not None:
        data = urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    result_headers = {k.lower(): v for k, v in response.getheaders()}
    if cookies is not None:
        for key, value in response.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookies[name] = rest.split(";", 1)[0]
    if own:
        conn.close()
    return response.status, result_headers, text


class Taker:
    """A person taking the quiz over one keep-alive connection, timing every step."""

    def __init__(self, port: int, seed: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        # The core answers and, where they leave the weakest areas close, the extra page's.
        self.answers = sample_taker(CONTENT, "random", seed=seed)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, timings, step, method, path, body=None):
        started = time.perf_counter()
        status, headers, text = request(self.port, method, path, body, self.cookies, self.conn)
        timings[step].append(time.perf_counter() - started)
        return status, headers, text

    def answer_extra_page(self, timings: dict[str, list[float]]) -> None:
        """The extra page after the core, when these answers get one (quiz.domain.flow)."""
        due = extra_page(CONTENT, self.answers)
        if not due:
            return
        status, _, form = self.call(timings, "GET extra", "GET", "/quiz/zusatz")
        token = CSRF.search(form).group(1)
        body = {"csrf_token": token, "action": "next"} | {q: self.answers[q] for q in due}
        status, _, _ = self.call(timings, "POST extra", "POST", "/quiz/zusatz", body)
        if status != 302:
            raise RuntimeError(f"extra page: {status}")

    def run(self, timings: dict[str, list[float]]) -> str:
        status, _, landing = self.call(timings, "landing", "GET", "/")
        token = CSRF.search(landing).group(1)
        status, headers, _ = self.call(
            timings, "start", "POST", "/quiz/start", {"csrf_token": token}
        )
        if status != 302:
            raise RuntimeError(f"start: {status}")
        for number, page in enumerate(CONTENT.pages, 1):
            status, _, form = self.call(timings, f"GET step {number}", "GET", f"/quiz/{number}")
            token = CSRF.search(form).group(1)
            body = {"csrf_token": token, "action": "next"}
            body |= {q.id: self.answers[q.id] for q in page.questions}
            status, headers, _ = self.call(
                timings, f"POST step {number}", "POST", f"/quiz/{number}", body
            )
            if status != 302:
                raise RuntimeError(f"step {number}: {status}")
        self.answer_extra_page(timings)
        last = len(CONTENT.pages) + 1
        status, _, form = self.call(timings, "GET lead", "GET", f"/quiz/{last}")
        token = CSRF.search(form).group(1)
        body = {
            "csrf_token": token,
            "action": "finish",
            "email": f"bench{id(self)}@example.com",
            "consent_data": "y",
        }
        status, headers, _ = self.call(timings, "POST lead (finish)", "POST", f"/quiz/{last}", body)
        location = headers.get("location", "")
        if status != 302 or "/r/" not in location:
            raise RuntimeError(f"finish: {status} {location}")
        path = "/r/" + location.split("/r/", 1)[1]
        status, _, _ = self.call(timings, "GET result", "GET", path)
        if status != 200:
            raise RuntimeError(f"result: {status}")
        status, _, _ = self.call(timings, "GET chart", "GET", path + "/chart.png")
        if status != 200:
            raise RuntimeError(f"chart: {status}")
        self.conn.close()
        return path


BROWSER_HEADERS = (
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/140 Safari/537.36",
    "Referer: https://www.linkedin.com/feed/",
)
LANDING_REQUESTS: list[int] = []


def wrk(
    binary: str,
    url: str,
    seconds: int,
    cookie: str | None = None,
    headers: tuple[str, ...] = (),
    gzip: bool = False,
) -> float:
    """Requests/second wrk reaches against one URL (8 connections, 2 threads)."""
    command = [binary, "-t2", "-c8", f"-d{seconds}s", url]
    for header in (*headers, *([f"Cookie: {cookie}"] if cookie else [])):
        command[1:1] = ["-H", header]
    if gzip:
        command[1:1] = ["-H", "Accept-Encoding: gzip"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses for {url}")
    if headers:
        LANDING_REQUESTS.append(int(re.search(r"(\d+) requests in", output).group(1)))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def throughput(server: Server, seconds: int, rounds: int) -> None:
    binary = ensure_wrk()
    taker = Taker(server.port, seed=1)
    result_path = taker.run(defaultdict(list))
    draft = Taker(server.port, seed=2)
    _, _, landing = request(server.port, "GET", "/", cookies=draft.cookies)
    token = CSRF.search(landing).group(1)
    request(server.port, "POST", "/quiz/start", {"csrf_token": token}, draft.cookies)
    # A taker in the middle of the quiz carries both cookies: the draft and the session (CSRF).
    status, _, page = request(server.port, "GET", "/quiz/1", cookies=draft.cookies)
    if status != 200 or "Schritt 1 von" not in page:
        raise RuntimeError(f"the quiz page under test is not a quiz page: {status}")
    cookie = "; ".join(f"{k}={v}" for k, v in draft.cookies.items())
    base = f"http://127.0.0.1:{server.port}"
    landing = base + "/?utm_source=linkedin&utm_medium=social&utm_campaign=bench"
    targets = {
        "/healthz": (base + "/healthz", None, False),
        "/ (landing, counted)": (landing, None, False),
        "/quiz/1 (quiz page)": (base + "/quiz/1", cookie, False),
        "/quiz/1, gzip": (base + "/quiz/1", cookie, True),
        "/r/<token> (result)": (base + result_path, None, False),
        "/r/<token>, gzip": (base + result_path, None, True),
        "/r/<token>/chart.png": (base + result_path + "/chart.png", None, False),
    }
    for url, url_cookie, gzip in targets.values():
        if gzip:
            check_compressed(server.port, url, url_cookie)
    wrk(binary, base + "/healthz", 2)  # warm-up
    # Interleaved rounds: a burst of load from elsewhere on the machine hits every URL alike.
    figures: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, (url, url_cookie, gzip) in targets.items():
            headers = BROWSER_HEADERS if name.startswith("/ (landing") else ()
            figures[name].append(wrk(binary, url, seconds, url_cookie, headers, gzip))
    print(
        f"Throughput (wrk, 2 threads, 8 connections, gunicorn -w 2, SQLite; "
        f"{rounds} interleaved rounds of {seconds} s, median req/s)"
    )
    health = statistics.median(figures["/healthz"])
    targets_pct = {
        "/ (landing, counted)": 70,
        "/quiz/1 (quiz page)": 70,
        "/quiz/1, gzip": 70,
        "/r/<token> (result)": 70,
        "/r/<token>, gzip": 70,
    }
    for name, values in figures.items():
        rate = statistics.median(values)
        rounds_text = " ".join(f"{value:.0f}" for value in values)
        line = f"  {name:<22}{rate:9.1f} req/s"
        if name != "/healthz":
            target = targets_pct.get(name)
            line += f"  = {rate / health:6.1%} of healthz"
            line += f" (target >= {target}%)" if target else " (cached PNG)"
        print(f"{line}   rounds: {rounds_text}")
    cpu_per_request(server, {name: target for name, target in targets.items() if "png" not in name})


def cpu_per_request(server: Server, targets: dict[str, tuple[str, str | None, bool]]) -> None:
    """CPU milliseconds per request of each target, served in this process by the same app."""
    os.environ.update(server.env)
    from quiz import create_app

    client = create_app().test_client(use_cookies=False)
    base = f"http://127.0.0.1:{server.port}"
    print("CPU time per request (this process, WSGI without a server, median of 5 x 200 requests)")
    figures = {}
    for name, (url, cookie, gzip) in targets.items():
        headers = {**({"Cookie": cookie} if cookie else {})}
        if gzip:
            headers["Accept-Encoding"] = "gzip"
        path = url.removeprefix(base)
        for _ in range(50):  # warm the worker's caches
            client.get(path, headers=headers)
        runs = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(200):
                answer = client.get(path, headers=headers)
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code}")
            runs.append((time.process_time() - started) / 200 * 1000)
        figures[name] = statistics.median(runs)
    health = figures["/healthz"]
    for name, ms in figures.items():
        line = f"  {name:<22}{ms:9.2f} ms"
        if name != "/healthz":
            line += f"  = {health / ms:6.1%} of healthz's throughput if CPU-bound (target >= 70%)"
        print(line)


def check_compressed(port: int, url: str, cookie: str | None) -> None:
    """The page really comes gzip-compressed when asked (else the figure would mean nothing)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept-Encoding": "gzip", **({"Cookie": cookie} if cookie else {})}
    conn.request("GET", url.split(str(port), 1)[1], headers=headers)
    response = conn.getresponse()
    size = len(response.read())
    conn.close()
    if response.status != 200 or response.getheader("Content-Encoding") != "gzip":
        raise RuntimeError(f"{url} is not sent gzip-compressed: {response.status}")
    print(f"  {url.split(str(port), 1)[1][:40]}: {size} bytes gzip-compressed")


def mixed_load(server: Server, takers: int, seconds: int) -> None:
    timings: dict[str, list[float]] = defaultdict(list)
    completed: list[str] = []
    errors: list[str] = []
    deadline = time.time() + seconds
    lock = threading.Lock()

    def worker(index: int) -> None:
        seed = index * 100_000
        while time.time() < deadline:
            seed += 1
            local: dict[str, list[float]] = defaultdict(list)
            try:
                path = Taker(server.port, seed).run(local)
            except Exception as exc:  # counted, not fatal
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                completed.append(path)
                for key, values in local.items():
                    timings[key].extend(values)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(takers)]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.time() - started

    import sqlite3

    with sqlite3.connect(server.dir / "bench.sqlite3") as conn:
        tokens = {path.split("/r/")[1] for path in completed}
        rows = conn.execute("SELECT result_token FROM responses WHERE status = 'finished'")
        stored = len(tokens & {row[0] for row in rows})
    print(f"\nMixed load: {takers} concurrent takers completing the whole quiz for {elapsed:.0f} s")
    print(f"  completed quizzes: {len(completed)} ({len(completed) / elapsed:.1f}/s)")
    print(f"  errors:            {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))
    print(f"  lost responses:    {len(completed) - stored} (stored and finished: {stored})")
    print(f"  {'step':<22}{'n':>7}{'median ms':>11}{'p99 ms':>9}")
    for key in sorted(timings, key=_step_order):
        values = sorted(timings[key])
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(
            f"  {key:<22}{len(values):>7}{statistics.median(values) * 1000:>11.1f}{p99 * 1000:>9.1f}"
        )


def _step_order(key: str) -> tuple[int, str]:
    order = ["landing", "start"]
    if key in order:
        return order.index(key), key
    match = re.search(r"step (\d+)", key)
    if match:
        return 2 + int(match.group(1)), key
    return 100, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per wrk measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds")
    parser.add_argument("--mixed-seconds", type=int, default=60)
    parser.add_argument("--takers", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    server = Server(args.workers)
    try:
        server.python(START_EXPERIMENT)
        throughput(server, args.seconds, args.rounds)
        mixed_load(server, args.takers, args.mixed_seconds)
    finally:
        server.stop()
    try:
        counted = int(server.python(COUNTED_VISITS).strip())
        print(
            f"Visits counted: {counted} of the landing page's {sum(LANDING_REQUESTS)} wrk requests "
            f"(the mixed load's takers send no User-Agent, so they count none; each worker "
            f"writes its last batch when it exits)"
        )
    finally:
        server.remove()


# An A/B test of the landing headline runs during the benchmark (the landing view draws for it).
START_EXPERIMENT = """
from quiz.experiments import lifecycle
variants = [lifecycle.VariantInput("A", "Erste"), lifecycle.VariantInput("B", "Zweite")]
e = lifecycle.create("Bench", "landing_headline", "start", variants, "bench")
lifecycle.change(e, "started", "bench")
"""
COUNTED_VISITS = """
from sqlalchemy import text
from quiz.extensions import db
q = "SELECT COALESCE(SUM(count), 0) FROM funnel_counters WHERE metric = 'visit'"
print(db.session.execute(text(q)).scalar())
"""


if __name__ == "__main__":
    main()
