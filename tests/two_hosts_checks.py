"""What runs against the two app hosts of tests/two_hosts.py, and what is counted afterwards.

The takers (through the proxy, each request to either host), the count of every finish, email
and webhook against the shared database, each host's /metrics, and a browser that talks to each
host directly: a coach session on both, the shared login limit, a settings change seen at once.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from urllib.parse import urlencode, urlsplit

from tests.two_hosts import COACH, METRICS_TOKEN, Cluster

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
RADIO = re.compile(r'name="([a-z0-9_]+)" type="radio" value="([^"]+)"')


# --- the takers ----------------------------------------------------------------------------------


@dataclass
class Load:
    """What the takers saw."""

    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    results: list[str] = field(default_factory=list)  # result tokens, one per finish
    emails: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        """Requests answered."""
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status."""
        return sum(n for status, n in self.statuses.items() if status >= 500)


class Browser:
    """One taker's browser: a keep-alive connection to the proxy and its cookies."""

    def __init__(self, port: int, load: Load) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.load = load

    def call(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """One request; status, Location and body."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        with self.load.lock:
            self.load.statuses[response.status] += 1
        parts = urlsplit(response.getheader("Location", ""))
        location = parts.path + (f"?{parts.query}" if parts.query else "")
        return response.status, location, text


def take_quiz(port: int, load: Load, rng: random.Random, email: str) -> str:
    """Start, answer every page the site asks (with random options) and finish; the token."""
    browser = Browser(port, load)
    try:
        status, _, landing = browser.call("GET", "/")
        status, location, _ = browser.call("POST", "/quiz/start", {"csrf_token": _csrf(landing)})
        for _ in range(20):
            if status != 302:
                raise RuntimeError(f"expected a redirect, got {status}")
            if location.startswith("/r/"):
                return location.removeprefix("/r/")
            status, _, page = browser.call("GET", location)
            form = {"csrf_token": _csrf(page)}
            choices: dict[str, list[str]] = {}
            for question, option in RADIO.findall(page):
                choices.setdefault(question, []).append(option)
            if choices:
                form |= {q: rng.choice(options) for q, options in choices.items()}
                form["action"] = "next"
            else:
                form |= {"email": email, "consent_data": "y", "action": "finish"}
            status, location, _ = browser.call("POST", location, form)
        raise RuntimeError("the quiz did not end")
    finally:
        browser.connection.close()


def _csrf(page: str) -> str:
    match = CSRF.search(page)
    if match is None:
        raise RuntimeError("no form token on the page")
    return match.group(1)


def run_takers(cluster: Cluster, takers: int, seconds: float, during: object = None) -> Load:
    """TAKERS people completing the quiz through the proxy for SECONDS; `during()` at half time."""
    load = Load()
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    def taker(index: int) -> None:
        rng = random.Random(index)
        while time.monotonic() < deadline:
            with load.lock:
                email = f"taker{next(counter)}@example.com"
            try:
                token = take_quiz(cluster.proxy, load, rng, email)
            except Exception as exc:  # counted and reported, not fatal for the others
                with load.lock:
                    load.errors.append(repr(exc))
                continue
            with load.lock:
                load.results.append(token)
                load.emails.append(email)

    threads = [threading.Thread(target=taker, args=(i,)) for i in range(takers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    if during is not None:
        time.sleep(seconds / 2)
        during()  # type: ignore[operator]
    for thread in threads:
        thread.join()
    load.seconds = time.monotonic() - started
    return load


# --- what came out of it -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Every finish, email and webhook counted against the database, and their duplicates."""

    finished: int  # finished responses in the database
    lost: int  # finishes a taker saw that the database does not have
    duplicate_finishes: int  # one result token seen by two finishes
    emails: int  # summaries the SMTP server received
    missing_emails: int
    duplicate_emails: int
    webhooks: int  # quiz.completed events the receiver accepted
    missing_webhooks: int
    duplicate_webhooks: int

    @property
    def duplicates(self) -> int:
        """Finishes, emails and webhooks that arrived more than once."""
        return self.duplicate_finishes + self.duplicate_emails + self.duplicate_webhooks


def settle(cluster: Cluster, timeout: float = 180) -> None:
    """Wait until both senders have delivered every email and webhook that was queued."""
    deadline = time.monotonic() + timeout
    pending = (
        "SELECT (SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')) + "
        "(SELECT count(*) FROM webhook_deliveries WHERE status IN ('queued', 'sending'))"
    )
    while cluster.sql(pending)[0][0]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"still undelivered after {timeout:.0f} s: {cluster.sql(pending)}")
        time.sleep(0.5)


def outcome(cluster: Cluster, load: Load) -> Outcome:
    """Count what arrived against what the database holds (call after `settle`)."""
    rows = cluster.sql("SELECT id, result_token, email FROM responses WHERE status = 'finished'")
    tokens = {str(token) for _, token, _ in rows}
    seen = Counter(load.results)
    received = Counter(parseaddr(str(message["To"]))[1] for message in cluster.mail.messages)
    addresses = Counter(str(email) for _, _, email in rows)
    completed = Counter(
        request.payload["data"]["response_id"]
        for request in cluster.receiver.requests
        if request.verified and request.payload["type"] == "quiz.completed"
    )
    ids = {int(str(response_id)) for response_id, _, _ in rows}
    webhook_ids = Counter(cluster.receiver.ids())
    return Outcome(
        finished=len(rows),
        lost=len(set(seen) - tokens),
        duplicate_finishes=sum(n - 1 for n in seen.values()) + len(rows) - len(tokens),
        emails=sum(received.values()),
        missing_emails=sum(1 for address in addresses if not received[address]),
        duplicate_emails=sum(n - 1 for n in received.values() if n > 1),
        webhooks=sum(completed.values()),
        missing_webhooks=len(ids - set(completed)),
        duplicate_webhooks=sum(n - 1 for n in completed.values() if n > 1)
        + sum(n - 1 for n in webhook_ids.values() if n > 1),
    )


def scrape(cluster: Cluster, host: str) -> dict[str, float]:
    """A host's /metrics: each series (name and labels as written) and its value."""
    address, _, port = cluster.hosts[host].rpartition(":")
    connection = http.client.HTTPConnection(address, int(port), timeout=30)
    try:
        connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        body = connection.getresponse().read().decode()
    finally:
        connection.close()
    return {
        series: float(number)
        for line in body.splitlines()
        if line and not line.startswith("#")
        for series, _, number in [line.rpartition(" ")]
    }


def requests_per_host(cluster: Cluster) -> dict[str, int]:
    """quiz_http_requests_total summed, as each host's /metrics reports it (both workers)."""
    return {
        name: int(
            sum(
                v
                for k, v in scrape(cluster, name).items()
                if k.startswith("quiz_http_requests_total{")
            )
        )
        for name in cluster.hosts
    }


# --- one browser, talking to each host directly ----------------------------------------------------


class Direct:
    """A browser whose cookies go to whichever host it asks (as behind a proxy that balances)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.cookies: dict[str, str] = {}

    def call(
        self, host: str, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """One request to host "a" or "b"; status and body."""
        address, _, port = self.cluster.hosts[host].rpartition(":")
        connection = http.client.HTTPConnection(address, int(port), timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, host: str, password: str) -> int:
        """Post the coach login form on HOST (its form fetched there too); the status."""
        _, page = self.call(host, "GET", "/coach/login")
        form = {"csrf_token": _csrf(page), "email": COACH[0], "password": password}
        return self.call(host, "POST", "/coach/login", form)[0]


def session_on_both_hosts(cluster: Cluster) -> tuple[int, int, int]:
    """Log in on host a; the dashboard's status on b and on a with that session, then logged out."""
    browser = Direct(cluster)
    assert browser.login("a", COACH[1]) == 302
    on_b = browser.call("b", "GET", "/coach/")[0]
    on_a = browser.call("a", "GET", "/coach/")[0]
    _, page = browser.call("b", "GET", "/coach/")
    status = browser.call("b", "POST", "/coach/logout", {"csrf_token": _csrf(page)})[0]
    assert status == 302
    return on_b, on_a, browser.call("a", "GET", "/coach/")[0]


def failed_logins_until_limited(cluster: Cluster, tries: int = 12) -> list[tuple[str, int]]:
    """Wrong passwords from one address, alternating hosts, until a 429: (host, status) each."""
    seen = []
    for attempt in range(tries):
        host = "ab"[attempt % 2]
        status = Direct(cluster).login(host, "falsch")
        seen.append((host, status))
        if status == 429 and len(seen) >= 2 and seen[-2][1] == 429:
            break
    return seen


def settings_change_seen_on_the_other_host(cluster: Cluster, name: str) -> tuple[bool, bool]:
    """`settings set brand.name NAME` on host a: whether b's landing page showed it before, after."""
    browser = Direct(cluster)
    # A few requests each: b's two workers both have a copy of the settings, both must follow.
    before = any(name in browser.call("b", "GET", "/")[1] for _ in range(4))
    cluster.flask("a", "settings", "set", "brand.name", name)
    after = all(name in browser.call("b", "GET", "/")[1] for _ in range(4))
    return before, after
