"""Two app hosts on one machine: network namespaces, one PostgreSQL and one Redis, one proxy.

Used by tests/test_two_hosts.py (about 8 s of load) and bench/two_hosts.py (60 s), with what
runs against it in tests/two_hosts_checks.py. The layout:

- namespace `db`: a private PostgreSQL cluster (initdb in a temporary folder, run as the
  `postgres` user, its socket in that folder) and a private `redis-server`, both listening on
  the namespace's address only, and a bridge joining the three namespaces;
- namespaces `a` and `b`: one app host each, gunicorn with 2 workers (`quiz.gunicorn_conf`),
  `send-mail --watch` and `send-webhooks --watch`, each with an instance folder of its own and
  the same SECRET_KEY, as two machines would have;
- this (the root) namespace: Caddy on 127.0.0.1 in front of both hosts (round robin), the SMTP
  server and the webhook receiver the senders deliver to, and the takers.

The shared PostgreSQL and Redis servers of the machine are never touched: the app hosts cannot
even reach them. Everything started here is stopped, the namespaces deleted and the temporary
folder removed when the context manager ends, also on an error.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.mailserver import MailServer, free_port
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "two-hosts-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
METRICS_TOKEN = "two-hosts-metrics-token-0123456789abcdef"
COACH = ("coach@example.com", "ein-langes-Passwort-fuer-zwei-Hosts")
APP_PORT = 8000


def unavailable() -> str | None:
    """Why the two hosts cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); CI runs as root"
    for tool in ("ip", "caddy", "redis-server", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if _pg_bin() is None:
        return "PostgreSQL's server programs (initdb, postgres) are not installed"
    probe = f"eqprobe{os.getpid()}"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if added.returncode != 0:
        return f"network namespaces are not permitted here: {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _subnet() -> str:
    """A 10.x.y.0/24 that no route of this machine uses: the first three octets."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    while True:
        prefix = f"10.{random.randint(160, 250)}.{random.randint(0, 254)}"
        if f"{prefix}." not in routes:
            return prefix


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Cluster:
    """What a test needs of the running hosts."""

    proxy: int  # Caddy's port on 127.0.0.1
    hosts: dict[str, str]  # "a"/"b" -> the host's address
    namespaces: dict[str, str]
    database_url: str
    mail: MailServer
    receiver: Receiver
    env: dict[str, dict[str, str]] = field(default_factory=dict)

    def flask(self, host: str, *args: str, stdin: str | None = None) -> str:
        """Run `flask --app quiz ARGS` on an app host, as its operator would; its output."""
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.namespaces[host],
                str(BIN / "flask"),
                "--app",
                "quiz",
                *args,
            ],
            env=self.env[host],
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def sql(self, query: str) -> list[tuple[object, ...]]:
        """Rows of a read on the shared database."""
        with psycopg.connect(self.database_url, connect_timeout=10) as conn:
            return list(conn.execute(query).fetchall())


class Processes:
    """Processes started in their own process groups, stopped group by group at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen[bytes], int]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str], stop: int = signal.SIGTERM
    ) -> None:
        """Start a process (its output in LOGS/NAME.log)."""
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((name, process, stop))

    def check(self) -> None:
        """Every process still runs (else name it, with the end of its log)."""
        for name, process, _ in self.started:
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop_all(self) -> None:
        """Stop the newest first; kill whatever is still there after 20 seconds."""
        for _name, process, stop in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, stop)
        deadline = time.monotonic() + 20
        for _name, process, _ in reversed(self.started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.started.clear()


def _wait(what: str, ready: object, processes: Processes, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        try:
            if ready():  # type: ignore[operator]
                return
        except (OSError, psycopg.OperationalError):
            pass  # not listening yet
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def http_status(address: str, path: str = "/healthz") -> int:
    """The status of one GET (address: host:port)."""
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@contextlib.contextmanager
def two_hosts(
    tmp: Path | None = None, takers_limit: str = "100000 per minute"
) -> Iterator[Cluster]:
    """Start the namespaces, the database, Redis, both app hosts, their senders and the proxy."""
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="quiz-two-hosts-", dir=tmp))
        stack.callback(shutil.rmtree, workdir, True)
        tag = secrets.token_hex(2)
        ns = {name: f"eq{tag}-{name}" for name in ("db", "a", "b")}
        prefix = _subnet()
        address = {
            "db": f"{prefix}.1",
            "a": f"{prefix}.2",
            "b": f"{prefix}.3",
            "root": f"{prefix}.10",
        }
        processes = Processes(workdir)
        for name in ns.values():
            _ip("netns", "add", name)
            stack.callback(subprocess.run, ["ip", "netns", "del", name], check=False)
        stack.callback(
            subprocess.run, ["ip", "link", "del", f"eq{tag}r"], check=False, capture_output=True
        )
        stack.callback(processes.stop_all)  # runs first: the namespaces go when emptied
        _network(ns, address, tag)

        mail = MailServer(host=address["root"]).start()
        stack.callback(mail.stop)
        receiver = Receiver(host=address["root"])
        stack.callback(receiver.stop)

        database_url = _postgres(workdir, ns["db"], address["db"], processes)
        processes.start(
            "redis",
            [
                "ip",
                "netns",
                "exec",
                ns["db"],
                "redis-server",
                "--bind",
                address["db"],
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--dir",
                str(workdir),
            ],
            dict(os.environ),
        )
        base = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("PROMETHEUS", "QUIZ_", "TEST_"))
            },
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://{address['db']}:6379/0",
            "SMTP_HOST": address["root"],
            "SMTP_PORT": str(mail.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "Engpass-Quiz <quiz@example.com>",
            "QUIZ_TRUSTED_PROXIES": "1",
            "QUIZ_LIMIT_START": takers_limit,
            "QUIZ_LIMIT_STEP": takers_limit,
            "QUIZ_METRICS_TOKEN": METRICS_TOKEN,
            "QUIZ_LOG_LEVEL": "WARNING",
        }
        proxy = free_port()
        hosts = {name: f"{address[name]}:{APP_PORT}" for name in ("a", "b")}
        cluster = Cluster(proxy, hosts, ns, database_url, mail, receiver)
        for name in hosts:
            instance = workdir / f"host-{name}"
            instance.mkdir()
            cluster.env[name] = {
                **base,
                "QUIZ_INSTANCE_PATH": str(instance),
                "PUBLIC_URL": f"http://127.0.0.1:{proxy}",
            }
        _wait("PostgreSQL", lambda: cluster.sql("SELECT 1"), processes)
        cluster.flask("a", "db", "upgrade")
        cluster.flask("a", "create-coach", COACH[0], stdin=f"{COACH[1]}\n{COACH[1]}\n")
        secret = re.search(
            r"whsec_\S+", cluster.flask("a", "webhooks", "add", receiver.url(host=address["root"]))
        )
        assert secret, "webhooks add prints the signing secret"
        receiver.secret = secret.group(0)
        for name in hosts:
            run = ["ip", "netns", "exec", ns[name]]
            processes.start(
                f"web-{name}",
                [
                    *run,
                    str(BIN / "gunicorn"),
                    "-c",
                    "python:quiz.gunicorn_conf",
                    "-w",
                    "2",
                    "-b",
                    hosts[name],
                    "--log-level",
                    "warning",
                    "quiz:create_app()",
                ],
                cluster.env[name],
            )
            for command in ("send-mail", "send-webhooks"):
                processes.start(
                    f"{command}-{name}",
                    [
                        *run,
                        str(BIN / "flask"),
                        "--app",
                        "quiz",
                        command,
                        "--watch",
                        "--interval",
                        "1",
                    ],
                    cluster.env[name],
                )
        caddyfile = workdir / "Caddyfile"
        caddyfile.write_text(
            "{\n\tadmin off\n\tauto_https off\n}\n"
            f"http://127.0.0.1:{proxy} {{\n\treverse_proxy {hosts['a']} {hosts['b']} {{\n"
            "\t\tlb_policy round_robin\n\t}\n}\n"
        )
        caddy_env = {
            **os.environ,
            "XDG_DATA_HOME": str(workdir / "caddy"),
            "XDG_CONFIG_HOME": str(workdir / "caddy"),
        }
        processes.start(
            "caddy",
            ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            caddy_env,
        )
        for name in hosts:
            _wait(f"app host {name}", lambda name=name: http_status(hosts[name]) == 200, processes)
        _wait("Caddy", lambda: http_status(f"127.0.0.1:{proxy}") == 200, processes)
        yield cluster


def _network(ns: dict[str, str], address: dict[str, str], tag: str) -> None:
    """A bridge in the db namespace; a veth from it to each app host and to this namespace."""
    db = ["netns", "exec", ns["db"], "ip"]
    _ip(*db, "link", "add", "br0", "type", "bridge")
    _ip(*db, "addr", "add", f"{address['db']}/24", "dev", "br0")
    _ip(*db, "link", "set", "br0", "up")
    for name in ns.values():
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    for name in ("a", "b"):
        port = f"eq{tag}{name}"
        _ip(
            "link",
            "add",
            port,
            "netns",
            ns["db"],
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns[name],
        )
        _ip(*db, "link", "set", port, "master", "br0", "up")
        _ip("netns", "exec", ns[name], "ip", "addr", "add", f"{address[name]}/24", "dev", "eth0")
        _ip("netns", "exec", ns[name], "ip", "link", "set", "eth0", "up")
    _ip("link", "add", f"eq{tag}r", "type", "veth", "peer", "name", f"eq{tag}p", "netns", ns["db"])
    _ip(*db, "link", "set", f"eq{tag}p", "master", "br0", "up")
    _ip("addr", "add", f"{address['root']}/24", "dev", f"eq{tag}r")
    _ip("link", "set", f"eq{tag}r", "up")


def _postgres(workdir: Path, namespace: str, host: str, processes: Processes) -> str:
    """A private PostgreSQL cluster in WORKDIR/pg, listening on HOST in NAMESPACE; its URL."""
    pg_bin = _pg_bin()
    assert pg_bin is not None
    data = workdir / "pg"
    data.mkdir()
    shutil.chown(workdir, "postgres")
    shutil.chown(data, "postgres", "postgres")
    data.chmod(0o700)
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    subprocess.run(
        [
            *as_postgres,
            str(pg_bin / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    # The app hosts and this namespace log in over the private network, without a password.
    network = host.rsplit(".", 1)[0] + ".0/24"
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {network} trust\n")
    settings = {
        "listen_addresses": host,
        "port": "5432",
        "unix_socket_directories": str(data),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "60",
    }
    options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    # SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
    processes.start(
        "postgres",
        [
            "ip",
            "netns",
            "exec",
            namespace,
            *as_postgres,
            str(pg_bin / "postgres"),
            "-D",
            str(data),
            *options,
        ],
        dict(os.environ),
        stop=signal.SIGINT,
    )
    return f"postgresql://postgres@{host}:5432/postgres"
