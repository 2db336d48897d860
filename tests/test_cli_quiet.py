"""A real `flask --app quiz` run prints only the command's own output; libraries stay quiet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The probe is about logging, not content: the small content file spares each run the parse of
# the real one and its archive (about a third of a run's CPU time).
MINI_CONTENT = ROOT / "tests" / "fixtures" / "mini.yaml"
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


def _probes(tmp_path: Path, *levels: str | None) -> list[str]:
    """PROBE's stderr at each QUIZ_LOG_LEVEL (None: unset), the runs side by side."""
    runs = []
    for level in levels:
        env = {"PATH": "/usr/bin:/bin", "QUIZ_INSTANCE_PATH": str(tmp_path)}
        env["QUIZ_CONTENT_PATH"] = str(MINI_CONTENT)
        if level is not None:
            env["QUIZ_LOG_LEVEL"] = level
        runs.append(
            subprocess.Popen(
                [sys.executable, "-c", PROBE],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    errors = []
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        errors.append(stderr)
    return errors


def test_library_info_lines_appear_only_when_asked_for(tmp_path: Path) -> None:
    quiet, loud, quieter = _probes(tmp_path, None, "info", "WARNING")
    assert "own line" in quiet
    assert "library line" not in quiet
    assert "setup plugin" not in quiet  # alembic's chatter on import
    assert "own line" in loud
    assert "library line" in loud
    assert "own line" not in quieter


def test_an_unknown_log_level_stops_with_a_message(tmp_path: Path) -> None:
    run = _run(
        [str(BIN / "flask"), "--app", "quiz", "check-content"], tmp_path, QUIZ_LOG_LEVEL="loud"
    )
    assert run.returncode == 1
    assert "QUIZ_LOG_LEVEL" in run.stderr
    assert "Traceback" not in run.stderr
