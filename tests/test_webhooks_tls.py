"""https delivery to the checked address: the name travels in SNI, the Host header and the
certificate check, though the connection goes to the address the guard resolved and approved.

Certificates come from the openssl command line: a test authority and server certificates for
`localhost` and for another name.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from quiz.extensions import db
from quiz.webhooks import endpoints, sender
from quiz.webhooks.queue import queue_event
from quiz.webhooks.transport import Client
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.app_config(WEBHOOK_HTTPS_ONLY=True, WEBHOOK_PUBLIC_ONLY=False)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA with server certificates for `localhost` and `other.example`."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=folder,
    )  # fmt: skip
    for name in ("localhost", "other.example"):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder,
        )  # fmt: skip
        (folder / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
            cwd=folder,
        )  # fmt: skip
    return folder


def _receiver(authority: Path, name: str) -> Receiver:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(authority / f"{name}.pem", authority / f"{name}.key")
    return Receiver(tls=context)


@pytest.fixture
def receiver(authority: Path) -> Iterator[Receiver]:
    """An https receiver with a certificate for `localhost`."""
    server = _receiver(authority, "localhost")
    yield server
    server.stop()


def _send(app: Flask, receiver: Receiver, authority: Path) -> sender.Report:
    with app.app_context():
        _endpoint, receiver.secret = endpoints.add_endpoint(receiver.url(host="localhost"))
        queue_event("quiz.completed", {"n": 1})
        db.session.commit()
    with Client(10, ca_certs=str(authority / "ca.pem")) as client:
        return sender.deliver_due(app, client=client)


def test_https_goes_to_the_checked_address_with_the_name_in_sni_and_host(
    app: Flask, receiver: Receiver, authority: Path
) -> None:
    report = _send(app, receiver, authority)
    assert report.delivered == 1, report.errors
    [request] = receiver.requests
    assert request.verified
    assert request.headers["host"] == f"localhost:{receiver.port}"
    assert receiver.server_names == ["localhost"]


def test_a_certificate_for_another_name_is_refused_and_retried(app: Flask, authority: Path) -> None:
    wrong = _receiver(authority, "other.example")
    try:
        report = _send(app, wrong, authority)
    finally:
        wrong.stop()
    assert report.retried == 1
    assert "certificate" in report.errors[0].lower()
    assert wrong.requests == []
