"""Delivering composed messages: over SMTP, or into `.eml` files when no SMTP_HOST is set.

The transports also say what a failure means, because only they see the server's answer: a
ConnectionFailure (the server cannot be used at all: the outbox pauses the sender and charges no
message), a TemporaryFailure (worth another try later) or a PermanentFailure (5xx: trying again
would only repeat the refusal). Error texts carry the SMTP code and reply, never an address.
"""

from __future__ import annotations

import email.policy
import io
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A message was not delivered; subclasses say whether trying again can help."""


class TemporaryFailure(DeliveryError):
    """Worth another try later: a 4xx answer about this message, or it broke off in flight."""


class ConnectionFailure(TemporaryFailure):
    """The server cannot be used at all (refused, timed out, TLS, login, our sender refused).

    Never the message's fault: the outbox pauses the whole sender and charges no message.
    `reason` is one of REASONS, for the log and the coach dashboard.
    """

    def __init__(self, description: str, reason: str = "unreachable") -> None:
        super().__init__(description)
        self.reason = reason


REASONS = ("unreachable", "tls", "login", "sender")


class PermanentFailure(DeliveryError):
    """The server refused for good (5xx): trying again would only repeat the refusal."""


class UndeliverableAddress(PermanentFailure):
    """The address cannot be sent to at all (malformed, or needs SMTPUTF8 the server lacks)."""


class Transport(Protocol):
    """Something that delivers composed messages; used as a context manager for one batch."""

    def __enter__(self) -> Transport: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise a DeliveryError."""


def transport_for(config: Mapping[str, Any]) -> Transport:
    """SMTP when SMTP_HOST is set, otherwise .eml files in MAIL_DIR."""
    if config.get("SMTP_HOST"):
        return SmtpTransport(config)
    return FileTransport(Path(config["MAIL_DIR"]))


class SmtpTransport:
    """One SMTP connection per batch, opened on the first message, honouring SMTP_SECURITY."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host = str(config["SMTP_HOST"])
        self.port = int(config["SMTP_PORT"])
        self.security = str(config["SMTP_SECURITY"])
        self.user = str(config.get("SMTP_USER") or "")
        self.password = str(config.get("SMTP_PASSWORD") or "")
        self.timeout = float(config.get("SMTP_TIMEOUT", 30))
        self._connection: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect (and log in) now, before any message is composed; ConnectionFailure if not."""
        self._connect()

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        connection: smtplib.SMTP | None = None
        stage = "unreachable"
        try:
            if self.security == "ssl":
                connection = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=_tls_context()
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    stage = "tls"
                    connection.starttls(context=_tls_context())
            # EHLO now, so a refused greeting is the connection's fault, not the first message's.
            connection.ehlo_or_helo_if_needed()
            if self.user:
                stage = "login"
                connection.login(self.user, self.password)
        except (smtplib.SMTPException, OSError) as exc:
            # Refused, timed out, TLS or login trouble: our side or the network, never the
            # message's fault, so no message is charged for it.
            if connection is not None:
                connection.close()
            reason = "tls" if isinstance(exc, ssl.SSLError) else stage
            raise ConnectionFailure(_describe(exc), reason) from exc
        self._connection = connection
        return connection

    def send(self, message: EmailMessage) -> None:
        """Deliver one message on the open connection (opening it first if needed).

        A connection that breaks without an answer (closed, reset, timed out) may simply have
        gone stale: the message is tried once more on a fresh one. If that cannot be opened, the
        server is down (ConnectionFailure); if it breaks again, the message is charged for it
        (TemporaryFailure), so a message that kills the connection cannot stall the queue.
        """
        try:
            self._send(self._connect(), message)
        except _Broken:
            self._drop()
            try:
                self._send(self._connect(), message)
            except _Broken as exc:
                self._drop()
                raise TemporaryFailure(str(exc)) from exc

    def _send(self, connection: smtplib.SMTP, message: EmailMessage) -> None:
        sender = getattr(message, "envelope_from", None) or None
        recipients = getattr(message, "envelope_to", None) or None
        try:
            if sender and recipients and not _resent_or_bcc(message):
                flat, options = flatten(connection, message, [sender, *recipients])
                connection.sendmail(sender, recipients, flat, options)
            else:
                connection.send_message(message, sender, recipients)
        except smtplib.SMTPNotSupportedError as exc:
            # Raised before any command: the connection stays usable for the others.
            raise UndeliverableAddress(
                "the address needs SMTPUTF8 (non-ASCII before the @), which the mail server "
                "does not offer"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise _classify(min(codes) if codes else 0, _describe(exc)) from exc
        except smtplib.SMTPSenderRefused as exc:
            self._drop_on_421(exc.smtp_code)
            if exc.smtp_code == 552:  # this message is too large
                raise PermanentFailure(_describe(exc)) from exc
            # MAIL FROM refused: every message would be, so the sender waits as a whole.
            raise ConnectionFailure(_describe(exc), "sender") from exc
        except smtplib.SMTPResponseException as exc:
            self._drop_on_421(exc.smtp_code)
            raise _classify(exc.smtp_code, _describe(exc)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise _Broken(_describe(exc)) from exc

    def _drop_on_421(self, code: int) -> None:
        if code == 421:  # the server is closing the connection
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


# What the generator splits a body's lines at (email.generator.NLCRE).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class _Generator(BytesGenerator):
    """BytesGenerator writing a body's lines in one piece instead of two writes per line.

    The chart's base64 and the quoted-printable parts are a few thousand lines per summary;
    one substitution gives exactly what the line-by-line loop writes (each line break as the
    policy's line separator), at a fraction of the cost.
    """

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(_LINE_BREAK.sub(self._NL, lines))  # type: ignore[attr-defined]


def flatten(
    connection: smtplib.SMTP, message: EmailMessage, addresses: list[str]
) -> tuple[bytes, tuple[str, ...]]:
    """The message as `smtplib.SMTP.send_message` puts it on the wire, and its MAIL options:
    SMTPUTF8 when an envelope address needs it (SMTPNotSupportedError where the server lacks
    it, before any command, as send_message raises it)."""
    options: tuple[str, ...] = ()
    policy = None
    if not all(address.isascii() for address in addresses):
        if not connection.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError(
                "One or more source or delivery addresses require internationalized email "
                "support, but the server does not advertise the required SMTPUTF8 capability"
            )
        policy = message.policy.clone(utf8=True)  # type: ignore[call-arg]  # an EmailPolicy
        options = ("SMTPUTF8", "BODY=8BITMIME")
    with io.BytesIO() as output:
        _Generator(output, policy=policy).flatten(message, linesep="\r\n")
        return output.getvalue(), options


def _resent_or_bcc(message: EmailMessage) -> bool:
    """Headers send_message treats specially (none of ours has them): it handles those."""
    return any(name in message for name in ("Bcc", "Resent-Bcc", "Resent-Date"))


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the system's CA certificates takes ~40 ms; one context serves every connection.
    return ssl.create_default_context()


class _Broken(Exception):
    """The connection broke during a message without an SMTP answer."""


def _classify(code: int, description: str) -> DeliveryError:
    if 500 <= code < 600:
        return PermanentFailure(description)
    return TemporaryFailure(description)


def _describe(exc: BaseException) -> str:
    """An error text for the outbox: the SMTP code and reply, without any address in it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = [f"{code} {redact_reply(text)}" for code, text in exc.recipients.values()]
        return "recipient refused: " + "; ".join(replies)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {redact_reply(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"[:500]


_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>]+")


def redact_reply(text: bytes | str) -> str:
    """A server's reply as text for logs and the outbox, every address in it replaced."""
    decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return _ADDRESS.sub("<address>", decoded)[:500]


class FileTransport:
    """Development without a mail server: every message becomes an .eml file in MAIL_DIR."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> FileTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def open(self) -> None:
        """Nothing to connect to."""

    def send(self, message: EmailMessage) -> None:
        """Write the message atomically (never a half-written file) and log its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        ident = re.sub(r"[^A-Za-z0-9.-]", "", str(message["Message-ID"]).split("@")[0])[:60]
        path = self.directory / f"{stamp}-{ident}.eml"
        try:
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
            utf8 = getattr(message, "needs_smtputf8", False)
            with os.fdopen(handle, "wb") as output:
                output.write(message.as_bytes(policy=email.policy.SMTPUTF8 if utf8 else None))
            os.replace(temporary, path)
        except OSError as exc:
            raise TemporaryFailure(_describe(exc)) from exc
        log.info("mail written to %s", path)
