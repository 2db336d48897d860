"""Two app hosts (issue 27, item 4): two gunicorn hosts in network namespaces of their own, one
PostgreSQL and one Redis in a third, Caddy in front, the mail and webhook senders on both.

16 takers for about 8 s through the proxy (each request to either host), then: every finish,
email and webhook exactly once, no 5xx, a coach session valid on either host, the login limit
shared by both, a settings change on one host seen on the other at once. Needs root (network
namespaces). It is a test of the PostgreSQL set-up (a cluster of its own, beside Redis), so it
runs where the PostgreSQL tests run: with TEST_DATABASE_URL set, as `.ci/run` (root, strict
skips) sets it; `make test` alone, on SQLite, skips it saying so. `bench/two_hosts.py` is the
60-second version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import two_hosts
from tests import two_hosts_checks as checks
from tests.two_hosts import Cluster

REASON = (
    "a test of the PostgreSQL set-up: it runs with TEST_DATABASE_URL (.ci/run)"
    if not os.environ.get("TEST_DATABASE_URL")
    else two_hosts.unavailable()
)
pytestmark = [
    pytest.mark.two_hosts,
    pytest.mark.postgres,
    pytest.mark.skipif(REASON is not None, reason=f"two app hosts: {REASON}"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Both hosts, the database, Redis, the senders and the proxy; all gone afterwards."""
    with two_hosts.two_hosts() as running:
        yield running


def test_takers_on_two_hosts_finish_and_are_mailed_and_sent_exactly_once(cluster: Cluster) -> None:
    changed: list[tuple[bool, bool]] = []
    load = checks.run_takers(
        cluster,
        takers=16,
        seconds=8,
        during=lambda: changed.append(
            checks.settings_change_seen_on_the_other_host(cluster, "Praxis Zwei Hosts")
        ),
    )
    checks.settle(cluster)
    result = checks.outcome(cluster, load)
    print(f"\n{load.requests} requests, {load.server_errors} 5xx, {result}")
    assert load.errors == [] and load.server_errors == 0, (load.errors[:3], load.statuses)
    assert len(load.results) >= 16, "every taker finished at least once"
    assert result.finished == len(load.results) and result.lost == 0
    assert result.emails == result.finished and result.missing_emails == 0
    assert result.webhooks == result.finished and result.missing_webhooks == 0
    assert result.duplicates == 0
    # Both hosts answered a share of the requests (Caddy balances round robin).
    per_host = checks.requests_per_host(cluster)
    assert min(per_host.values()) > load.requests / 4, per_host
    # Either host's /metrics reads the same figures from the shared database.
    for host in ("a", "b"):
        figures = checks.scrape(cluster, host)
        assert figures["quiz_finished_responses"] == result.finished
        assert figures['quiz_emails{state="sent"}'] == result.finished
        assert figures["quiz_webhook_delivered_last_day"] == result.finished
        assert figures["quiz_outbox_oldest_due_seconds"] == 0
    # The settings changed on host a were on host b's very next pages, not before.
    assert changed == [(False, True)]


def test_a_coach_session_is_valid_on_either_host(cluster: Cluster) -> None:
    on_b, on_a, after_logout = checks.session_on_both_hosts(cluster)
    assert (on_b, on_a) == (200, 200)
    assert after_logout == 302  # logged out on b: the session is gone on a too


def test_the_login_limit_counts_the_failures_on_both_hosts_together(cluster: Cluster) -> None:
    seen = checks.failed_logins_until_limited(cluster)
    statuses = [status for _, status in seen]
    # Five failures a minute from one address, wherever they landed: the sixth is refused, on
    # either host (per host, or per worker, it would take 10 or 20).
    assert statuses[:5] == [401] * 5, seen
    assert statuses[5:7] == [429, 429], seen
    assert {host for host, status in seen if status == 429} == {"a", "b"}
