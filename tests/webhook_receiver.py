"""A real HTTP receiver for webhook tests: a threaded http.server on 127.0.0.1 that checks
every signature with the standardwebhooks library and answers as scripted.

It can be stopped and started again on the same port (a receiver that is down refuses the
connection, like a real one), told to answer the next requests with given statuses and headers,
or to be slow.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any


class Receiver:
    """Records every POST; `secret` (set once the endpoint exists) verifies the signatures."""

    def __init__(
        self, secret: str | None = None, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.secret = secret
        self.host = host
        # With a server-side TLS context it speaks https and records the SNI names it was sent.
        self.tls = tls
        self.server_names: list[str | None] = []
        self.requests: list[Received] = []
        self.replies: deque[tuple[int, dict[str, str]]] = deque()
        self.always: tuple[int, dict[str, str]] | None = None
        self.delay = 0.0
        self.lock = threading.Lock()
        # Called with the number of requests so far, right before each is answered.
        self.on_request: Callable[[int], None] | None = None
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        """The receiver's URL."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def start(self) -> None:
        """Listen (again) on the same port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                verified, payload = receiver._verify(body, headers)
                with receiver.lock:
                    receiver.requests.append(Received(self.path, headers, body, verified, payload))
                    if receiver.replies:
                        status, extra = receiver.replies.popleft()
                    elif receiver.always is not None:
                        status, extra = receiver.always
                    else:
                        status, extra = 204, {}
                    count = len(receiver.requests)
                if receiver.on_request is not None:
                    receiver.on_request(count)
                if receiver.delay:
                    time.sleep(receiver.delay)
                if not verified:
                    status = 401
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                body = b"" if status in (204, 304) else b"ok"  # a 204 has no body
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((self.host, self.port), Handler)
        if self.tls is not None:

            def remember(_sock: Any, name: str | None, _context: Any) -> None:
                self.server_names.append(name)

            self.tls.sni_callback = remember
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        # A short poll: `stop` waits for the serving loop to notice, and tests stop and start
        # receivers often (the default half second a stop added up to a sixth of the suite).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _verify(self, body: bytes, headers: dict[str, str]) -> tuple[bool, Any]:
        if self.secret is None:
            return False, None
        try:
            return True, Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False, json.loads(body or b"null")

    def ids(self) -> list[str]:
        """The webhook-id of every request, in order."""
        with self.lock:
            return [r.headers.get("webhook-id", "") for r in self.requests]


class DrippingReceiver:
    """A receiver that reads the request, then answers one byte every `interval` seconds.

    A plain socket server in a thread of its own: the status line itself trickles in, so every
    single read of the sender's gets a byte well within any per-read timeout. It keeps dripping
    until the sender closes the connection (or `limit` seconds pass); `connections` counts the
    requests it got, `durations` how long each connection lasted.
    """

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    def __init__(self, interval: float = 2.0, limit: float = 120.0) -> None:
        self.interval, self.limit = interval, limit
        self.connections = 0
        self.durations: list[float] = []
        self._stop = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.port = int(self._socket.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/drip") -> str:
        """The receiver's URL."""
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _address = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        began = time.monotonic()
        with connection:
            try:
                _read_request(connection)
                self.connections += 1
                for byte in self.ANSWER:
                    if self._stop.wait(self.interval) or time.monotonic() - began > self.limit:
                        break
                    connection.sendall(bytes([byte]))
            except OSError:
                pass  # the sender gave up and closed the connection
        self.durations.append(time.monotonic() - began)

    def stop(self) -> None:
        """Stop accepting and end every drip."""
        self._stop.set()
        self._socket.close()
        self._thread.join(timeout=5)


def _read_request(connection: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
