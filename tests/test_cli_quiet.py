"""A real `flask --app quiz` run prints only the command's own output; libraries stay quiet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROBE = (
    "import logging; from quiz import create_app; create_app(); "
    "logging.getLogger('quiz.mail.compose').info('own line'); "
    "logging.getLogger('alembic.runtime').info('library line')"
)


def _run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "QUIZ_INSTANCE_PATH": str(tmp_path), **extra}
    return subprocess.run(
        args, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )


def test_check_content_prints_only_its_summary(tmp_path: Path) -> None:
    run = _run([str(BIN / "flask"), "--app", "quiz", "check-content"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    keys = [line.split(":")[0] for line in run.stdout.splitlines()]
    assert keys == ["dimensions", "questions", "extra questions", "advice", "tips", "sources"]


def test_library_info_lines_appear_only_when_asked_for(tmp_path: Path) -> None:
    quiet = _run([sys.executable, "-c", PROBE], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "own line" in quiet.stderr
    assert "library line" not in quiet.stderr
    assert "setup plugin" not in quiet.stderr  # alembic's chatter on import
    loud = _run([sys.executable, "-c", PROBE], tmp_path, QUIZ_LOG_LEVEL="info")
    assert "own line" in loud.stderr
    assert "library line" in loud.stderr
    quieter = _run([sys.executable, "-c", PROBE], tmp_path, QUIZ_LOG_LEVEL="WARNING")
    assert "own line" not in quieter.stderr


def test_an_unknown_log_level_stops_with_a_message(tmp_path: Path) -> None:
    run = _run(
        [str(BIN / "flask"), "--app", "quiz", "check-content"], tmp_path, QUIZ_LOG_LEVEL="loud"
    )
    assert run.returncode == 1
    assert "QUIZ_LOG_LEVEL" in run.stderr
    assert "Traceback" not in run.stderr
