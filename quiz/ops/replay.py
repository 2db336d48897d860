"""After a restore: re-apply what the deletion log says happened since, then today's retention.

A backup shows the database as it was; since then takers may have deleted their data or
unsubscribed, and purges have anonymised and expired rows. Replaying the log (quiz.deletion_log)
in the order written does all of it again through the same services, so the counters follow as
they did the first time: a response that was deleted is deleted again (and only that response:
its id must still go with the same draft token), an unsubscription is withdrawn again, and each
purge runs again with its own time and periods, finding the same rows. Then the retention
periods that hold today run once more, as the daily purge would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from quiz import deletion_log
from quiz.extensions import db
from quiz.models import Response
from quiz.taker import retention, rights


@dataclass(frozen=True)
class ReplayReport:
    """What the replay found in the log and did again."""

    log: Path
    log_exists: bool
    entries: int
    deleted: int
    unsubscribed: int
    purges: int
    retention: retention.PurgeReport


def replay() -> ReplayReport:
    """Re-apply the deletion log to the restored database, then the current retention."""
    path = deletion_log.log_path()
    existed = path.exists()
    found = deletion_log.entries(path)
    deleted = unsubscribed = purges = 0
    with deletion_log.replaying():
        for entry in found:
            if entry.kind == "purged":
                assert entry.optin_days is not None and entry.anonymise_days is not None
                retention.purge(entry.optin_days, entry.anonymise_days, now=entry.at)
                purges += 1
            elif _same_response(entry, path):
                assert entry.response_id is not None
                if entry.kind == "deleted":
                    deleted += int(rights.delete_data(entry.response_id))
                else:
                    rights.unsubscribe(entry.response_id, now=entry.at)
                    unsubscribed += 1
    today = retention.purge(
        current_app.config["QUIZ_OPTIN_DAYS"], current_app.config["QUIZ_ANONYMISE_DAYS"]
    )
    return ReplayReport(
        log=path,
        log_exists=existed,
        entries=len(found),
        deleted=deleted,
        unsubscribed=unsubscribed,
        purges=purges,
        retention=today,
    )


def _same_response(entry: deletion_log.Entry, path: Path) -> bool:
    """Whether the response the entry names is there, and is the one it was written for."""
    token = db.session.scalar(select(Response.draft_token).where(Response.id == entry.response_id))
    db.session.rollback()  # the services below begin write transactions of their own
    return token is not None and deletion_log.is_for(entry, token, path)
