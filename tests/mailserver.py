"""A real SMTP server (aiosmtpd) in the test process that records what it receives.

It can be told how to answer: a queue of scripted replies for the next messages (e.g. a 451 and
then the normal 250), or a fixed reply for all of them (e.g. 550). It keeps the bytes as they
arrived next to the parsed message, offers SMTPUTF8 unless told not to (as aiosmtpd does), and
may require a login (AUTH over plain SMTP, for tests only).
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ACCEPTED = "250 2.0.0 Message accepted for delivery"
DROP = "DROP"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingHandler:
    """Keeps every accepted message; answers DATA as scripted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.replies: deque[str] = deque()
        self.always: str | None = None
        self.attempts = 0
        self.lock = threading.Lock()
        # Called with the number of messages accepted so far, right after each one.
        self.on_accept: Callable[[int], None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Record the message, or answer with the next scripted reply.

        The reply DROP closes the connection without any answer, as a crashing server would.
        """
        with self.lock:
            self.attempts += 1
            if self.replies:
                reply = self.replies.popleft()
            elif self.always:
                reply = self.always
            else:
                reply = ACCEPTED
            if reply == DROP:
                server.transport.close()
                return "421 4.3.0 closing"  # never arrives: the connection is gone
            if reply.startswith("250"):
                message = BytesParser(policy=policy.default).parsebytes(envelope.content)
                self.messages.append(message)  # type: ignore[arg-type]
                self.raw.append(bytes(envelope.original_content or envelope.content))
                self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                if self.on_accept is not None:
                    self.on_accept(len(self.messages))
            return reply


class MailServer:
    """aiosmtpd on 127.0.0.1 (or `host`); start() and stop() may be called more than once."""

    def __init__(
        self,
        port: int | None = None,
        *,
        smtputf8: bool = True,
        password: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self.smtputf8 = smtputf8
        # With a password, every client must log in as USER with it (AUTH PLAIN/LOGIN).
        self.password = password
        self.logins = 0
        self._controller: Controller | None = None

    def _authenticate(
        self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        self.logins += 1
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"USER",
            (self.password or "").encode(),
        )
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 on failure

    def start(self) -> MailServer:
        """Listen (again) on the same port."""
        options: dict[str, Any] = {"enable_SMTPUTF8": self.smtputf8}
        if self.password is not None:
            options.update(
                authenticator=self._authenticate, auth_require_tls=False, auth_required=False
            )
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, **options)
        self._controller.start()
        return self

    @property
    def raw(self) -> list[bytes]:
        """The accepted messages exactly as they arrived."""
        with self.handler.lock:
            return list(self.handler.raw)

    def stop(self) -> None:
        """Stop listening."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        """Messages accepted so far."""
        with self.handler.lock:
            return list(self.handler.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least `count` messages have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    def smtp_config(self) -> dict[str, Any]:
        """App settings that send to this server (plain SMTP, no TLS, no login)."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_SECURITY": "none",
            "SMTP_TIMEOUT": 5,
        }
