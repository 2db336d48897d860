"""Gunicorn settings for the quiz: gunicorn's own logs go through the app's redaction.

Use it with `gunicorn -c python:quiz.gunicorn_conf ... 'quiz:create_app()'` (the README's
production command and `bench/quiz_load.py` do). Gunicorn's access log quotes the request line
and the Referer, and both carry whatever a taker or the coach typed into a search box or a
tracking link (`?q=kunde%40example.org`); its error log quotes tracebacks. The filter sits on
the loggers themselves, not on their handlers, so every handler gunicorn builds from its flags
(`--access-logfile`, `--error-logfile`, syslog) or on a reload gets only redacted records.

It also sets up the workers' shared metrics (prometheus_client's multiprocess mode, read by
`/metrics`): `PROMETHEUS_MULTIPROC_DIR` (default: `metrics/` in the instance folder) is set here,
before any worker imports prometheus_client, which picks its way of storing values at import;
it is emptied when gunicorn starts, and a dead worker's live gauges are tidied away.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask
from gunicorn.arbiter import Arbiter
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker

from quiz.charts import load_drawing_library
from quiz.web.security import redacting_filter


def metrics_dir(env: Mapping[str, str]) -> Path:
    """Where the workers keep their metrics: the configured folder, else the instance folder's."""
    configured = env.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if configured:
        return Path(configured)
    instance = env.get("QUIZ_INSTANCE_PATH", "").strip()
    if not instance:
        instance = Flask("quiz").instance_path  # where create_app puts it by default
    return Path(instance) / "metrics"


# Set while gunicorn reads this file, before it loads the app or forks a worker.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(os.environ))


def on_starting(server: Arbiter) -> None:
    """Start with no metrics: the files of the workers of an earlier run would add up forever."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server: Arbiter, worker: Worker) -> None:
    """A worker ended: drop its live gauges (its counters and histograms keep counting)."""
    from prometheus_client import multiprocess  # after PROMETHEUS_MULTIPROC_DIR is set

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # unannotated


def post_worker_init(worker: Worker) -> None:
    """Load matplotlib when a worker starts, as before, not on its first chart (quiz.charts)."""
    load_drawing_library()


class RedactingLogger(Logger):
    """Gunicorn's logger with email addresses and secret link tokens redacted."""

    def setup(self, cfg: Config) -> None:
        """Set gunicorn's handlers up as usual, then put the redacting filter on both loggers."""
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.addFilter(redacting_filter())


logger_class = RedactingLogger
# Gunicorn's control socket (`gunicornc`) is unused here, and its default path is one per user
# account: every gunicorn on a host (another instance, a second app host, the tests' servers)
# would take it over from the one before.
control_socket_disable = True
