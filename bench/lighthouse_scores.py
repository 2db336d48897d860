"""Lighthouse on a phone, all four categories, on the pages a taker and a visitor see (issue 22).

Run: `.venv/bin/python bench/lighthouse_scores.py [--runs 3]` (or `make bench-lighthouse`).

Serves the app as in production (gunicorn, 2 workers, a fresh SQLite database, the Impressum
filled in as a coach publishes it), takes one taker to page 2 and one through the whole quiz over
HTTP, then runs Lighthouse with its mobile defaults (simulated slow 4G and a 4x slower CPU) over
the landing page, a quiz page with and without JavaScript, a result page, the Impressum and the
privacy notice, in one Chromium (tests/e2e/lighthouse_pages.mjs, the suite's runner). Prints each
category's score per page (the median of RUNS), the performance metrics behind it, and whether
the goals hold: performance at least 95 everywhere; accessibility, best practices and SEO 100
(the suite checks those three on every run: tests/e2e/test_lighthouse.py; the result page's SEO
misses `is-crawlable` by design, it says `noindex`).

Performance is a simulation from the page's trace, so a busy machine lowers it a little: the
load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quiz_load import CONTENT, CSRF, Server, Taker  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
PAGES_SCRIPT = ROOT / "tests" / "e2e" / "lighthouse_pages.mjs"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
METRICS = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time")
METRICS += ("cumulative-layout-shift", "speed-index")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
CHROME_FLAGS += ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
IMPRESSUM = {
    "contact.name": "Dr. Erika Muster",
    "contact.address": "Musterweg 1\n12345 Musterstadt",
    "contact.email": "kontakt@praxis-muster.de",
    "contact.phone": "+49 30 1234567",
    "legal.impressum_extra": "USt-IdNr.: DE123456789",
}


def midway_cookie(port: int) -> str:
    """The Cookie header of a taker who has answered the first page (so page 2 is theirs)."""
    taker = Taker(port, seed=5)
    timings: dict[str, list[float]] = {"landing": [], "start": [], "step": [], "post": []}
    _, _, landing = taker.call(timings, "landing", "GET", "/")
    token = CSRF.search(landing).group(1)
    taker.call(timings, "start", "POST", "/quiz/start", {"csrf_token": token})
    _, _, form = taker.call(timings, "step", "GET", "/quiz/1")
    body = {"csrf_token": CSRF.search(form).group(1), "action": "next"}
    body |= {q.id: taker.answers[q.id] for q in CONTENT.pages[0].questions}
    status, _, _ = taker.call(timings, "post", "POST", "/quiz/1", body)
    if status != 302:
        raise RuntimeError(f"page 1: {status}")
    taker.conn.close()
    return "; ".join(f"{name}={value}" for name, value in taker.cookies.items())


def result_path(port: int) -> str:
    """The result page of a taker who went through the whole quiz."""
    from collections import defaultdict

    return Taker(port, seed=7).run(defaultdict(list))


def run_lighthouse(pages: dict[str, tuple[str, str | None, bool]], out: Path) -> dict[str, dict]:
    job = {
        "chromeFlags": CHROME_FLAGS,
        "categories": list(CATEGORIES),
        "skipAudits": [],
        "pages": [
            {"url": url, "cookie": cookie, "javaScript": js, "out": str(out / f"{name}.json")}
            for name, (url, cookie, js) in pages.items()
        ],
    }
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "CHROME_PATH": str(CHROMIUM)}
    subprocess.run(
        ["node", str(PAGES_SCRIPT), str(out / "job.json")], env=env, check=True, cwd=ROOT
    )
    return {name: json.loads((out / f"{name}.json").read_text()) for name in pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse passes (median shown)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("needs Debian's chromium at /usr/bin/chromium (make browser-deps)")
    server = Server(workers=2)
    try:
        settings = "from quiz.site import settings\n"
        settings += f"settings.update({IMPRESSUM!r}, 'cli')\n"
        server.python(settings)
        base = f"http://127.0.0.1:{server.port}"
        midway = midway_cookie(server.port)
        pages = {
            "landing": (base + "/", None, True),
            "quiz": (base + "/quiz/2", midway, True),
            "quiz-without-javascript": (base + "/quiz/2", midway, False),
            "result": (base + result_path(server.port), None, True),
            "impressum": (base + "/impressum", None, True),
            "datenschutz": (base + "/datenschutz", None, True),
        }
        scores: dict[str, dict[str, list[float]]] = {p: {c: [] for c in CATEGORIES} for p in pages}
        metrics: dict[str, dict[str, list[float]]] = {p: {m: [] for m in METRICS} for p in pages}
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as out:
                for name, report in run_lighthouse(pages, Path(out)).items():
                    for category in CATEGORIES:
                        scores[name][category].append(report["categories"][category]["score"])
                    for metric in METRICS:
                        metrics[name][metric].append(report["audits"][metric]["numericValue"])
    finally:
        server.stop()
        server.remove()
    print(f"Lighthouse, mobile defaults, median of {args.runs}; load {os.getloadavg()[0]:.1f}")
    print(f"{'page':25}" + "".join(f"{c:>16}" for c in CATEGORIES))
    ok = True
    for name in pages:
        row = {c: round(100 * statistics.median(scores[name][c])) for c in CATEGORIES}
        print(f"{name:25}" + "".join(f"{row[c]:>16}" for c in CATEGORIES))
        ok &= row["performance"] >= 95
        ok &= all(row[c] == 100 for c in CATEGORIES[1:] if not (name == "result" and c == "seo"))
    print("\nmetrics (median): FCP, LCP, TBT in ms, CLS, Speed Index in ms")
    for name in pages:
        values = [statistics.median(metrics[name][m]) for m in METRICS]
        print(f"{name:25}" + "".join(f"{v:>10.3g}" for v in values))
    print("\ngoals (performance >= 95, the other three 100):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
