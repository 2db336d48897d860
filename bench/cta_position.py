"""Where the call to action sits on a phone: its top and its button, in px, on the result page.

Run: `.venv/bin/python bench/cta_position.py [--profiles N]` (or `make bench-cta`). Finishes N
random profiles (seeds 1..N, through the writers, with a call-to-action URL set), opens each
result page in Chromium at 390 × 844 and prints the call to action's top and its button's bottom
(median, 90th percentile, maximum, and the profile of the maximum), and how many lie within the
first two screens (1,688 px). Before issue 22 the button sat at 3,253 px, below the whole chart.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.phone_taps import CHROMIUM, PHONE, serve  # noqa: E402
from quiz.site import settings as site_settings  # noqa: E402
from tests.factories import finished_response  # noqa: E402


def main() -> None:
    """Measure every profile's result page, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=100, help="random profiles (seeds 1..N)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("this bench needs Debian's chromium at /usr/bin/chromium (make browser-deps)")
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS

    folder = Path(tempfile.mkdtemp(prefix="quiz-cta-"))
    server, url = serve(folder)
    app = server.app
    tops: list[float] = []
    bottoms: list[tuple[float, int]] = []
    try:
        with app.app_context():
            site_settings.update({"cta.url": "https://termine.example/erstgespraech"}, "bench")
        paths = [
            (seed, finished_response(app, seed=seed).path) for seed in range(1, args.profiles + 1)
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(
                locale="de-DE", viewport=PHONE, is_mobile=True, has_touch=True
            )
            tab = context.new_page()
            for seed, path in paths:
                tab.goto(url + path)
                section = tab.locator(".cta").bounding_box()
                button = tab.locator(".cta a.button").bounding_box()
                tops.append(section["y"])
                bottoms.append((button["y"] + button["height"], seed))
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    two_screens = 2 * PHONE["height"]
    ends = [bottom for bottom, _seed in bottoms]
    worst_end, worst_seed = max(bottoms)
    print(f"profiles: {len(tops)} at {PHONE['width']} x {PHONE['height']} px")
    for name, values in (("top of the call to action", tops), ("bottom of its button", ends)):
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(
            f"{name}: median {statistics.median(values):.0f} px, p90 {p90:.0f} px, "
            f"max {max(values):.0f} px"
        )
    print(f"largest button bottom: {worst_end:.0f} px (seed {worst_seed})")
    print(f"top within two screens ({two_screens} px): {sum(t < two_screens for t in tops)}")
    print(f"whole button within two screens: {sum(e <= two_screens for e in ends)}")


if __name__ == "__main__":
    main()
