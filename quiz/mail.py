"""Emails: built from `.txt` + `.html` template pairs, delivered by SMTP or into `.eml` files.

Nothing here needs a request: links are built under PUBLIC_URL, and the app is passed in. The
outbox (`quiz.outbox`) decides what to send and when; this module only composes and delivers.
Log lines name outbox ids and Message-IDs, never addresses or answers.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from flask import Flask

from quiz import get_content
from quiz.charts import CHART_WIDTH_IN, chart_height_in
from quiz.links import (
    DATA,
    OPTIN,
    UNSUBSCRIBE,
    external_url,
    make_token,
)
from quiz.models import Response

log = logging.getLogger(__name__)

KINDS = ("result", "optin")
TOP_TIPS = 3
# Width of the chart in the HTML email, in CSS pixels; the PNG is rendered at a higher resolution.
EMAIL_CHART_WIDTH = 560


class DeliveryError(Exception):
    """A message was not delivered; subclasses say whether trying again can help."""


class TemporaryFailure(DeliveryError):
    """Worth another try later: a 4xx answer, a timeout, a dropped connection."""


class ConnectionFailure(TemporaryFailure):
    """The server cannot be reached at all; the rest of the batch will not get through either."""


class PermanentFailure(DeliveryError):
    """The server refused for good (5xx): trying again would only repeat the refusal."""


# --- composing ---------------------------------------------------------------------------------


def new_message_id(config: Mapping[str, Any]) -> str:
    """A fresh Message-ID in the sender's domain."""
    domain = sender_address(config).domain or "localhost"
    return make_msgid(domain=domain)


def sender_address(config: Mapping[str, Any]) -> Address:
    """MAIL_FROM as an Address (display name and address)."""
    pairs = getaddresses([str(config["MAIL_FROM"])])
    name, addr = pairs[0] if pairs else ("", "")
    return safe_address(name, addr or "quiz@localhost")


def safe_address(display_name: str | None, addr_spec: str) -> Address:
    """An Address, refusing line breaks so no name or address can add a header of its own."""
    for value in (display_name or "", addr_spec):
        if "\r" in value or "\n" in value:
            raise ValueError("line break in an email address or name")
    return Address(display_name=display_name or "", addr_spec=addr_spec)


def compose(
    app: Flask,
    *,
    kind: str,
    recipient: str,
    message_id: str,
    response: Response,
    chart_png: bytes | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """The complete message of one outbox row: both parts, headers, the chart inline (result)."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    config = app.config
    token = response.result_token or ""
    context: dict[str, Any] = {
        "coach_name": config["QUIZ_COACH_NAME"],
        "first_name": response.first_name,
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

    text_template = app.jinja_env.get_template(f"email/{kind}.txt")
    text_module = text_template.make_module(context)
    html = app.jinja_env.get_template(f"email/{kind}.html").render(context)
    subject = " ".join(str(getattr(text_module, "subject", "")).split())

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender_address(config)
    message["To"] = safe_address(response.first_name, recipient)
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(str(text_module).strip() + "\n")
    # Boundaries chosen here, not by the generator: it would scan the whole flattened message
    # for each one it invents. "=_" never occurs in quoted-printable or base64 bodies.
    message.make_alternative(boundary=_boundary())
    message.add_alternative(html, subtype="html")
    if chart_cid and chart_png:
        html_part = message.get_payload()[1]  # type: ignore[index]
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
        context = ssl.create_default_context()
        try:
            if self.security == "ssl":
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    connection.starttls(context=context)
            if self.user:
                connection.login(self.user, self.password)
        except (smtplib.SMTPException, OSError) as exc:
            # Refused, timed out, TLS or login trouble: our side or the network, never the
            # message's fault, so it is always worth another try later.
            raise ConnectionFailure(_describe(exc)) from exc
        self._connection = connection
        return connection

    def send(self, message: EmailMessage) -> None:
        """Deliver one message on the open connection (opening it first if needed)."""
        connection = self._connect()
        try:
            connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise _classify(min(codes) if codes else 0, _describe(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the server is closing the connection
                self._drop()
            raise _classify(exc.smtp_code, _describe(exc)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise ConnectionFailure(_describe(exc)) from exc

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


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

    def send(self, message: EmailMessage) -> None:
        """Write the message atomically (never a half-written file) and log its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        ident = re.sub(r"[^A-Za-z0-9.-]", "", str(message["Message-ID"]).split("@")[0])[:60]
        path = self.directory / f"{stamp}-{ident}.eml"
        try:
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
            with os.fdopen(handle, "wb") as output:
                output.write(message.as_bytes())
            os.replace(temporary, path)
        except OSError as exc:
            raise TemporaryFailure(_describe(exc)) from exc
        log.info("mail written to %s", path)
