"""Two app hosts for 60 s: requests, 5xx and duplicates (issue 27, item 4).

Run as root: `.venv/bin/python bench/two_hosts.py [--seconds 60] [--takers 16]` (or `make
bench-two-hosts`). Two gunicorn hosts (2 workers each, with `send-mail --watch` and
`send-webhooks --watch`) in network namespaces of their own, a private PostgreSQL and Redis in a
third, Caddy in front balancing round robin (tests/two_hosts.py builds it all and removes it
afterwards). TAKERS people complete the quiz through Caddy for SECONDS while, at half time, a
settings change is made on host a and looked for on host b; then the senders are waited for and
every finish, email and webhook is counted against the database. Prints the requests, the 5xx,
the duplicates, what went missing, each host's share (from its /metrics), and the checks of a
session on either host and the shared login limit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import two_hosts
from tests import two_hosts_checks as checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--takers", type=int, default=16)
    args = parser.parse_args()
    reason = two_hosts.unavailable()
    if reason:
        sys.exit(f"two app hosts cannot run here: {reason}")
    started = time.monotonic()
    with two_hosts.two_hosts() as cluster:
        print(
            f"set up in {time.monotonic() - started:.0f} s (namespaces, PostgreSQL, Redis, hosts)"
        )
        changed: list[tuple[bool, bool]] = []
        load = checks.run_takers(
            cluster,
            args.takers,
            args.seconds,
            during=lambda: changed.append(
                checks.settings_change_seen_on_the_other_host(cluster, "Praxis Zwei Hosts")
            ),
        )
        waited = time.monotonic()
        checks.settle(cluster)
        settled = time.monotonic() - waited
        result = checks.outcome(cluster, load)
        per_host = checks.requests_per_host(cluster)
        session = checks.session_on_both_hosts(cluster)
        limited = checks.failed_logins_until_limited(cluster)
    first_429 = next((i for i, (_, status) in enumerate(limited, 1) if status == 429), None)
    print(f"\nTwo app hosts, {args.takers} takers through Caddy for {load.seconds:.0f} s")
    print(f"  requests:           {load.requests} ({load.requests / load.seconds:.1f}/s)")
    print(f"  5xx:                {load.server_errors}")
    print(
        f"  taker errors:       {len(load.errors)}"
        + (f"  first: {load.errors[0]}" if load.errors else "")
    )
    print(f"  per host (metrics): {', '.join(f'{k} {v}' for k, v in sorted(per_host.items()))}")
    print(
        f"  finishes:           {len(load.results)} seen by takers, {result.finished} in the database, {result.lost} lost"
    )
    print(f"  emails:             {result.emails} received, {result.missing_emails} missing")
    print(
        f"  webhooks:           {result.webhooks} quiz.completed received, {result.missing_webhooks} missing"
    )
    print(
        f"  duplicates:         {result.duplicates} (finishes {result.duplicate_finishes}, "
        f"emails {result.duplicate_emails}, webhooks {result.duplicate_webhooks})"
    )
    print(f"  senders caught up:  {settled:.1f} s after the load")
    before, after = changed[0] if changed else (None, None)
    print(f"  settings on a, seen on b: before {before}, at once after {after}")
    print(
        f"  coach session from a: dashboard on b {session[0]}, on a {session[1]}, after logout on b {session[2]}"
    )
    print(f"  login limit (5/min per address) over both hosts: first 429 at attempt {first_429}")


if __name__ == "__main__":
    main()
