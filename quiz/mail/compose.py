"""Emails: built from `.txt` + `.html` template pairs, delivered by SMTP or into `.eml` files.

Nothing here needs a request: links are built under PUBLIC_URL, and the app is passed in. The
outbox (`quiz.mail.outbox`) decides what to send and when; this module only composes and delivers.
Log lines name outbox ids and Message-IDs, never addresses or answers.
"""

from __future__ import annotations

import email.policy
import logging
import os
import re
import secrets
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast

from flask import Flask

from quiz.app_state import get_content
from quiz.charts import CHART_WIDTH_IN, chart_height_in
from quiz.mail.headers import (
    AddressError,
    OutgoingMessage,
    address_header,
    envelope_address,
    link_header,
    usable_name,
)
from quiz.models import Response
from quiz.taker.links import DATA, OPTIN, UNSUBSCRIBE, external_url, make_token

log = logging.getLogger(__name__)

KINDS = ("result", "optin")
# The note to the coach that their login was locked (no response behind it).
COACH_ALERT = "coach_alert"
TOP_TIPS = 3
# Width of the chart in the HTML email, in CSS pixels; the PNG is rendered at a higher resolution.
EMAIL_CHART_WIDTH = 560


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


# --- composing ---------------------------------------------------------------------------------


def new_message_id(config: Mapping[str, Any]) -> str:
    """A fresh Message-ID in the sender's domain."""
    domain = envelope_address(sender_address(config)[1]).rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


def sender_address(config: Mapping[str, Any]) -> tuple[str, str]:
    """MAIL_FROM as (display name, address)."""
    pairs = getaddresses([str(config["MAIL_FROM"])])
    name, addr = pairs[0] if pairs else ("", "")
    return name, addr or "quiz@localhost"


def compose(
    app: Flask,
    *,
    kind: str,
    recipient: str,
    message_id: str,
    response: Response,
    chart_png: bytes | None = None,
    now: datetime | None = None,
) -> OutgoingMessage:
    """The complete message of one outbox row: both parts, headers, the chart inline (result)."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    config = app.config
    token = response.result_token or ""
    first_name = usable_name(response.first_name)
    context: dict[str, Any] = {
        "coach_name": config["QUIZ_COACH_NAME"],
        "first_name": first_name,
        "result_url": external_url(app, "public.result", token=token),
        "unsubscribe_url": external_url(
            app, "account.unsubscribe", token=make_token(config, UNSUBSCRIBE, response.id, token)
        ),
        "data_url": external_url(
            app, "account.data", token=make_token(config, DATA, response.id, token)
        ),
        "privacy_url": external_url(app, "public.privacy"),
        "optin_days": config["MAIL_OPTIN_DAYS"],
    }
    chart_cid = make_msgid(domain="chart.invalid") if chart_png and kind == "result" else None
    if kind == "result":
        context.update(result_context(app, response))
        context["chart_cid"] = chart_cid[1:-1] if chart_cid else None
        context["chart_width"] = EMAIL_CHART_WIDTH
        context["chart_height"] = round(
            EMAIL_CHART_WIDTH * chart_height_in(len(context["rows"])) / CHART_WIDTH_IN
        )
    else:
        context["confirm_url"] = external_url(
            app, "account.confirm", token=make_token(config, OPTIN, response.id, token)
        )
    message = _message(app, kind, context, recipient, first_name, message_id, now)
    message["List-Unsubscribe"] = link_header("List-Unsubscribe", context["unsubscribe_url"])
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if chart_cid and chart_png:
        html_part = cast(EmailMessage, message.get_payload()[1])  # type: ignore[index]
        html_part.make_related(boundary=_boundary())
        html_part.add_related(
            chart_png,
            maintype="image",
            subtype="png",
            cid=chart_cid,
            filename="engpass-profil.png",
            disposition="inline",
        )
    return message


def compose_coach_alert(
    app: Flask,
    *,
    recipient: str,
    message_id: str,
    locked_minutes: int,
    now: datetime | None = None,
) -> OutgoingMessage:
    """The note to the coach that their login was locked for a while (no unsubscribe: a notice)."""
    context: dict[str, Any] = {
        "coach_name": app.config["QUIZ_COACH_NAME"],
        "locked_minutes": locked_minutes,
        "privacy_url": external_url(app, "public.privacy"),
    }
    return _message(app, COACH_ALERT, context, recipient, "", message_id, now)


def _message(
    app: Flask,
    kind: str,
    context: dict[str, Any],
    recipient: str,
    display_name: str,
    message_id: str,
    now: datetime | None,
) -> OutgoingMessage:
    """Both parts from the template pair and the headers every message has."""
    try:
        to_header = address_header("To", display_name, recipient)
        envelope_to = envelope_address(recipient)
    except AddressError as exc:
        raise UndeliverableAddress(f"invalid recipient address: {_reply(str(exc))}") from None
    sender_name, sender = sender_address(app.config)
    text_template = app.jinja_env.get_template(f"email/{kind}.txt")
    text_module = text_template.make_module(context)
    html = app.jinja_env.get_template(f"email/{kind}.html").render(context)
    subject = " ".join(str(getattr(text_module, "subject", "")).split())

    message = OutgoingMessage()
    message.envelope_from = envelope_address(sender)
    message.envelope_to = [envelope_to]
    message["Subject"] = subject
    message["From"] = address_header("From", sender_name, sender)
    message["To"] = to_header
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(str(text_module).strip() + "\n")
    # Boundaries chosen here, not by the generator: it would scan the whole flattened message
    # for each one it invents. "=_" never occurs in quoted-printable or base64 bodies.
    message.make_alternative(boundary=_boundary())
    message.add_alternative(html, subtype="html")
    return message


def _boundary() -> str:
    return "=_" + secrets.token_hex(16)


def result_context(app: Flask, response: Response) -> dict[str, Any]:
    """What the summary shows: bottleneck, every dimension's score, the three key tips."""
    analysis = response.analysis or []
    order = {dimension.id: index for index, dimension in enumerate(get_content(app).dimensions)}
    rows = sorted(
        (item for item in analysis if item.get("kind") in ("bottleneck", "dimension")),
        key=lambda item: order.get(item.get("dimension", ""), len(order)),
    )
    bottleneck = next((item for item in analysis if item.get("kind") == "bottleneck"), None)
    return {
        "bottleneck": bottleneck,
        "rows": rows,
        "tips": top_tips(analysis),
        "bottleneck_id": response.bottleneck,
    }


def top_tips(analysis: Sequence[Mapping[str, Any]], count: int = TOP_TIPS) -> list[Any]:
    """The most important stored tips: highest priority first, otherwise in the stored order."""
    tips = [item for item in analysis if item.get("kind") == "tip"]
    return sorted(tips, key=lambda item: -(item.get("priority") or 0))[:count]


# --- delivering --------------------------------------------------------------------------------


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
        replies = [f"{code} {_reply(text)}" for code, text in exc.recipients.values()]
        return "recipient refused: " + "; ".join(replies)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_reply(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"[:500]


_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>]+")


def _reply(text: bytes | str) -> str:
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
