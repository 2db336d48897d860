"""deploy/.env.example lists every environment variable the app reads, with the code's defaults.

Found two ways: a scan of the source for the ways the code reads a variable (`env.get("X")`,
`_int(env, "X", ...)`, `os.environ["X"]`, `os.getenv("X")`, click's `envvar="X"`), and the keys
an app actually asks its environment for while it is built.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from quiz import config, factory
from quiz import webhooks as webhooks_package
from quiz.config import load_config
from quiz.webhooks.settings import defaults as webhook_defaults
from tests.conftest import TEST_SECRET, base_config

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
LINE = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
# Read by the programs the units start, not by the app: gunicorn's worker count.
READ_ELSEWHERE = {"WEB_CONCURRENCY"}
# Read by the app outside load_config: where the app lives, its log level, a command's option.
OUTSIDE_LOAD_CONFIG = {"QUIZ_INSTANCE_PATH", "QUIZ_LOG_LEVEL", "QUIZ_BACKUP_KEEP"}
_ENV_NAMES = {"env", "environ", "environ()", "os.environ"}


def listed() -> dict[str, list[tuple[bool, str]]]:
    """Every variable in the file: (commented, raw value) for each of its lines."""
    found: dict[str, list[tuple[bool, str]]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if match:
            found.setdefault(match.group(2), []).append((match.group(1) == "#", match.group(3)))
    return found


def read_in_source(tree: ast.AST) -> set[str]:
    """The variable names a module reads, spelled as constants."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            strings = [
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
            names = [arg for arg in strings if NAME.match(arg)]
            attr = func.attr if isinstance(func, ast.Attribute) else ""
            if (
                attr in {"get", "pop", "setdefault"} and receiver in _ENV_NAMES
            ) or attr == "getenv":
                found.update(names[:1])
            elif any(ast.unparse(arg) in _ENV_NAMES for arg in node.args):
                found.update(names)  # a helper given the environment: _int(env, "X", 1)
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg == "envvar" and isinstance(value, ast.Constant):
                    found.add(str(value.value))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)  # read, not set for a child process
            and ast.unparse(node.value) in _ENV_NAMES
            and isinstance(node.slice, ast.Constant)
        ):
            found.add(str(node.slice.value))
    return found


def test_the_source_scan_sees_each_way_of_reading_a_variable() -> None:
    source = """
import os
def f(env):
    a = env.get("A_ONE", "x")
    b = _int(env, "B_TWO", 3)
    c = os.environ["C_THREE"]
    d = os.getenv("D_FOUR")
    e = environ().get("E_FIVE")
    g = env["G_SIX"]
    env["SET_FOR_A_CHILD"] = "1"
    other.get("NOT_AN_ENV")
    log("NOT_EITHER")
@click.option("--keep", envvar="H_SEVEN")
def cmd(): ...
"""
    assert read_in_source(ast.parse(source)) == {
        "A_ONE",
        "B_TWO",
        "C_THREE",
        "D_FOUR",
        "E_FIVE",
        "G_SIX",
        "H_SEVEN",
    }


class RecordingEnv(Mapping[str, str]):
    """An empty environment that remembers every key asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the app iterates over its environment; list what it looks for")

    def __len__(self) -> int:
        return 0


def read_while_building_an_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> set[str]:
    """The keys an app asks its environment for while create_app runs."""
    recording = RecordingEnv()
    for module in (config, factory, webhooks_package):
        monkeypatch.setattr(module, "environ", lambda: recording)
    factory.create_app(base_config(f"sqlite:///{tmp_path / 'quiz.sqlite3'}", tmp_path))
    return recording.asked


def read_in_the_package() -> set[str]:
    """The variable names every module of the package reads, spelled as constants."""
    trees = (ast.parse(path.read_text(encoding="utf-8")) for path in ROOT.glob("quiz/**/*.py"))
    return set().union(*(read_in_source(tree) for tree in trees))


def test_every_variable_the_code_reads_is_in_the_env_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    in_source = read_in_the_package()
    at_start = read_while_building_an_app(monkeypatch, tmp_path)
    assert {"SECRET_KEY", "WEBHOOK_TIMEOUT_SECONDS", "QUIZ_BACKUP_KEEP"} <= in_source
    assert {"QUIZ_INSTANCE_PATH", "QUIZ_LOG_LEVEL", "REDIS_URL"} <= at_start
    assert sorted((in_source | at_start) - set(listed())) == []


def test_the_env_example_lists_nothing_the_code_does_not_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    read = read_in_the_package() | read_while_building_an_app(monkeypatch, tmp_path)
    read |= READ_ELSEWHERE
    assert sorted(set(listed()) - read) == []


def test_every_variable_shows_its_default_and_the_defaults_are_the_codes(tmp_path: Path) -> None:
    variables = listed()
    undocumented = [name for name, lines in variables.items() if not any(c for c, _ in lines)]
    assert undocumented == [], "each variable needs a commented #NAME=default line"
    empty = load_config({}, tmp_path)
    hooks = webhook_defaults({}, production=False)
    checked = 0
    for name, lines in variables.items():
        for _, raw in (line for line in lines if line[0]):
            if name in READ_ELSEWHERE | OUTSIDE_LOAD_CONFIG or raw == "":
                continue
            (value,) = shlex.split(raw)  # as the shell (and systemd) read it
            assert load_config({name: value}, tmp_path) == empty, name
            assert webhook_defaults({name: value}, production=False) == hooks, name
            checked += 1
    assert checked >= 35


def test_the_shell_reads_the_env_example_as_systemd_does() -> None:
    run = subprocess.run(
        ["sh", "-c", f'set -a; . "{ENV_EXAMPLE}"; env'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    env = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    assert env["QUIZ_ENV"] == "production"
    assert env["QUIZ_TRUSTED_PROXIES"] == "1"
    assert env["MAIL_FROM"] == "Engpass-Quiz <quiz@example.com>"
    assert env["SECRET_KEY"] == ""  # to be filled in: production refuses to start without
    assert TEST_SECRET not in ENV_EXAMPLE.read_text(encoding="utf-8")
