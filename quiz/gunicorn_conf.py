"""Gunicorn settings for the quiz: gunicorn's own logs go through the app's redaction.

Use it with `gunicorn -c python:quiz.gunicorn_conf ... 'quiz:create_app()'` (the README's
production command and `bench/quiz_load.py` do). Gunicorn's access log quotes the request line
and the Referer, and both carry whatever a taker or the coach typed into a search box or a
tracking link (`?q=kunde%40example.org`); its error log quotes tracebacks. The filter sits on
the loggers themselves, not on their handlers, so every handler gunicorn builds from its flags
(`--access-logfile`, `--error-logfile`, syslog) or on a reload gets only redacted records.
"""

from __future__ import annotations

from gunicorn.config import Config
from gunicorn.glogging import Logger

from quiz.web.security import redacting_filter


class RedactingLogger(Logger):
    """Gunicorn's logger with email addresses and secret link tokens redacted."""

    def setup(self, cfg: Config) -> None:
        """Set gunicorn's handlers up as usual, then put the redacting filter on both loggers."""
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.addFilter(redacting_filter())


logger_class = RedactingLogger
