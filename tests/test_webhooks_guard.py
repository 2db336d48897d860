"""The URL guard: which schemes and addresses webhooks may go to, checked on the address the
name resolves to at send time, and the connection made to that checked address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from quiz.config import ConfigError
from quiz.database import begin_write
from quiz.extensions import db
from quiz.webhooks import endpoints, guard, sender
from quiz.webhooks.models import WebhookDelivery, WebhookEndpoint
from quiz.webhooks.queue import queue_event
from quiz.webhooks.settings import defaults
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.dialect_independent

PRODUCTION_GUARD = {"WEBHOOK_HTTPS_ONLY": True, "WEBHOOK_PUBLIC_ONLY": True}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    server = Receiver()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_loopback_private_link_local_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not guard.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_internet_addresses_are_public(address: str) -> None:
    assert guard.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("https:///hook", "host"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://127.0.0.1/hook", "private"),
        ("https://[::1]/hook", "private"),
        ("https://10.0.0.5:8443/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://localhost/hook", "private"),
        ("https://example.com:99999/hook", "invalid"),
        ("https://example.com/a b", "invalid"),
        ("https://example.com/a\x00b", "invalid"),
    ],
)
def test_production_refuses_to_save_such_urls(url: str, reason: str) -> None:
    with pytest.raises(guard.BlockedURL) as refused:
        guard.check_saved(url, https_only=True, public_only=True)
    assert refused.value.reason == reason


# Every form in which a resolver reads this machine or a private network (issue 21, finding 8).
DISGUISED_PRIVATE = [
    "https://LOCALHOST./hook",
    "https://LocalHost/hook",
    "https://api.localhost./hook",
    "https://2130706433/hook",
    "https://0177.0.0.1/hook",
    "https://0x7f.1/hook",
    "https://0x7F000001/hook",
    "https://127.1/hook",
    "https://127.0.0.1./hook",
    "https://0/hook",
    "https://10.1/hook",
    "https://０x７ｆ.１/hook",  # full-width digits and letters
    "https://１２７．０．０．１/hook",  # full-width digits and dots
    "https://127。0。0。1/hook",  # ideographic full stops
    "https://127｡0｡0｡1/hook",  # halfwidth ideographic full stops
    "https://ｌｏｃａｌｈｏｓｔ/hook",
    "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "https://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "https://[::ffff:7f00:1]/hook",  # IPv4-mapped
    "https://[::ffff:192.168.0.1]/hook",
    "https://[::127.0.0.1]/hook",  # IPv4-compatible
    "https://crm-intern/hook",  # hosts-file names (see the fixture)
    "https://CRM-Intern./hook",
    "https://printer.lan/hook",
]


@pytest.fixture
def hosts_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hosts file with intranet names, read instead of /etc/hosts."""
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "127.0.0.1 localhost\n10.0.0.7  crm-intern crm-intern.lan # the CRM\n"
        "fd00::5 printer.lan\n93.184.216.34 public-alias\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(guard, "HOSTS_FILE", str(hosts))


@pytest.mark.usefixtures("hosts_file")
@pytest.mark.parametrize("url", DISGUISED_PRIVATE)
def test_saving_and_sending_refuse_every_form_of_a_private_address(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(guard.BlockedURL) as refused:
        guard.check_saved(url, https_only=True, public_only=True)
    assert refused.value.reason == "private"

    def no_dns(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("the one check refuses before any DNS look-up")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(guard.BlockedURL) as refused:
        guard.resolve(url, https_only=True, public_only=True)
    assert refused.value.reason == "private"


@pytest.mark.usefixtures("hosts_file")
@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://134744072/hook", "8.8.8.8"),
        ("https://[2002:808:808::]/hook", "2002:808:808::"),  # 6to4 of 8.8.8.8
        ("https://８．８．８．８/hook", "8.8.8.8"),
    ],
)
def test_public_addresses_pass_in_any_form_and_are_connected_to_as_checked(
    url: str, address: str
) -> None:
    assert guard.check_saved(url, https_only=True, public_only=True) == url
    assert guard.resolve(url, https_only=True, public_only=True).addresses == (address,)


@pytest.mark.usefixtures("hosts_file")
def test_a_public_hosts_file_name_may_be_saved() -> None:
    url = "https://public-alias/hook"
    assert guard.check_saved(url, https_only=True, public_only=True) == url


def test_production_accepts_a_public_https_url() -> None:
    url = "https://hooks.example.com/catch/1?x=2"
    assert guard.check_saved(url, https_only=True, public_only=True) == url


def test_internationalised_names_are_sent_in_their_idna_form() -> None:
    url = "https://bücher.example/hook"
    assert guard.check_saved(url, https_only=True, public_only=True) == url
    assert guard.ascii_host("bücher.example") == "xn--bcher-kva.example"


def test_development_accepts_local_http_urls() -> None:
    assert guard.check_saved("http://127.0.0.1:9/x", https_only=False, public_only=False)


def test_a_name_is_checked_on_every_address_it_resolves_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name whose DNS answer now includes a private address is refused at send time."""
    answers = [("93.184.216.34", 443), ("10.0.0.5", 443)]
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *_args, **_kw: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", a) for a in answers],
    )
    with pytest.raises(guard.BlockedURL, match=r"10\.0\.0\.5") as refused:
        guard.resolve("https://crm.example/hook", https_only=True, public_only=True)
    assert refused.value.reason == "private"
    monkeypatch.undo()
    target = guard.resolve("http://localhost:8080/a?b=1", https_only=False, public_only=False)
    assert "127.0.0.1" in target.addresses
    assert (target.host_header, target.path) == ("localhost:8080", "/a?b=1")


def test_production_is_strict_by_default_and_can_be_relaxed_explicitly() -> None:
    strict = defaults({}, production=True)
    assert strict["WEBHOOK_HTTPS_ONLY"] and strict["WEBHOOK_PUBLIC_ONLY"]
    development = defaults({}, production=False)
    assert not development["WEBHOOK_HTTPS_ONLY"] and not development["WEBHOOK_PUBLIC_ONLY"]
    relaxed = defaults({"WEBHOOK_PUBLIC_ONLY": "false"}, production=True)
    assert relaxed["WEBHOOK_HTTPS_ONLY"] and not relaxed["WEBHOOK_PUBLIC_ONLY"]
    assert strict["WEBHOOK_TIMEOUT_SECONDS"] <= 10
    with pytest.raises(ConfigError, match="WEBHOOK_TIMEOUT_SECONDS"):
        defaults({"WEBHOOK_TIMEOUT_SECONDS": "30"}, production=True)


def _endpoint_without_save_checks(app: Flask, url: str, receiver: Receiver) -> None:
    """An endpoint as if its DNS record changed after it was saved: only the send checks it."""
    with app.app_context():
        begin_write()
        secret = endpoints.new_secret()
        db.session.add(
            WebhookEndpoint(url=url, events=["quiz.completed"], enabled=True, secret=secret)
        )
        db.session.commit()
        receiver.secret = secret


def _queue_one(app: Flask) -> None:
    with app.app_context():
        begin_write()
        queue_event("quiz.completed", {"n": 1})
        db.session.commit()


def _rows(app: Flask) -> list[tuple[str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id))
        return [(row.status, row.last_error) for row in rows]


@pytest.mark.app_config(**PRODUCTION_GUARD)
@pytest.mark.parametrize(
    "url",
    [
        "https://localhost:{port}/hook",
        "https://127.0.0.1:{port}/hook",
        "https://[::1]:{port}/hook",
        "https://10.255.255.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "http://localhost:{port}/hook",
    ],
)
def test_production_sender_refuses_private_addresses_at_send_time(
    app: Flask, receiver: Receiver, url: str
) -> None:
    _endpoint_without_save_checks(app, url.format(port=receiver.port), receiver)
    _queue_one(app)
    report = sender.deliver_due(app)
    assert report.failed == 1
    [(status, error)] = _rows(app)
    assert status == "failed" and (error or "").startswith("refused:")
    assert receiver.requests == []


@pytest.mark.app_config(WEBHOOK_HTTPS_ONLY=False, WEBHOOK_PUBLIC_ONLY=False)
def test_the_sender_resolves_once_and_connects_to_the_checked_address(
    app: Flask, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is looked up once per attempt; the request carries the name as its Host."""
    _endpoint_without_save_checks(app, f"http://localhost:{receiver.port}/hook", receiver)
    _queue_one(app)
    lookups: list[Any] = []
    real = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    assert sender.deliver_due(app).delivered == 1
    assert lookups.count("localhost") == 1
    [request] = receiver.requests
    assert request.verified
    assert request.headers["host"] == f"localhost:{receiver.port}"
