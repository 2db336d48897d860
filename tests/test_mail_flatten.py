"""The SMTP transport's own flattening gives exactly the bytes smtplib's send_message would."""

from __future__ import annotations

import io
import smtplib
from email.generator import BytesGenerator
from email.message import EmailMessage

import pytest

from quiz.mail.headers import OutgoingMessage, address_header
from quiz.mail.transport import flatten


class _Server:
    """Stands in for a connection: only asked which extensions it offers."""

    def __init__(self, smtputf8: bool) -> None:
        self.smtputf8 = smtputf8

    def has_extn(self, name: str) -> bool:
        return self.smtputf8 and name == "smtputf8"


def _message(recipient: str) -> OutgoingMessage:
    message = OutgoingMessage()
    message["Subject"] = "Ihr Engpass-Profil: Übersicht"
    message["From"] = address_header("From", "Coach Müller", "coach@example.org")
    message["To"] = address_header("To", "Anna", recipient)
    message.set_content("Guten Tag,\n" + "ein langer Absatz mit Umlauten äöü " * 20 + "\n.\nEnde\n")
    message.make_alternative(boundary="=_alt")
    message.add_alternative("<p>" + "Hallo Welt, grüß Gott " * 30 + "</p>\r\n.", subtype="html")
    html = message.get_payload(1)
    assert isinstance(html, EmailMessage)
    html.make_related(boundary="=_rel")
    html.add_related(bytes(range(256)) * 40, maintype="image", subtype="png", cid="<c@x>")
    return message


def _send_message_bytes(message: OutgoingMessage, utf8: bool) -> bytes:
    """What smtplib.SMTP.send_message flattens (Python 3.11)."""
    output = io.BytesIO()
    policy = message.policy.clone(utf8=True) if utf8 else None  # type: ignore[call-arg]
    BytesGenerator(output, policy=policy).flatten(message, linesep="\r\n")
    return output.getvalue()


def test_the_same_bytes_as_send_message() -> None:
    message = _message("anna@example.com")
    flat, options = flatten(_Server(False), message, ["coach@example.org", "anna@example.com"])  # type: ignore[arg-type]
    assert flat == _send_message_bytes(message, False)
    assert options == ()
    assert flat.count(b"\r\n") > 100 and b"\n" not in flat.replace(b"\r\n", b"")


def test_a_non_ascii_address_needs_smtputf8() -> None:
    message = _message("jürgen@example.com")
    addresses = ["coach@example.org", "jürgen@example.com"]
    flat, options = flatten(_Server(True), message, addresses)  # type: ignore[arg-type]
    assert flat == _send_message_bytes(message, True)
    assert options == ("SMTPUTF8", "BODY=8BITMIME")
    with pytest.raises(smtplib.SMTPNotSupportedError):
        flatten(_Server(False), message, addresses)  # type: ignore[arg-type]
