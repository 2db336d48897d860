"""The coach's work on a lead: status (with its history), free notes and tags.

The only writer of `lead_records`, `lead_tags` and `lead_status_changes`. A change of status or
tags queues `lead.updated` for the CRM in the same transaction; the notes are the coach's own and
never leave the site (not in a webhook, not in the CSV). Everything here belongs to the response
and is deleted with it (ON DELETE CASCADE), exported with it (quiz.taker.rights) and, when the
response is anonymised, loses what may name the person: the notes and the tags (retention).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy import update as update_rows

from quiz import database
from quiz.extensions import db
from quiz.models import (
    LEAD_STATUSES,
    LeadRecord,
    LeadStatusChange,
    LeadTag,
    Response,
    utcnow,
)
from quiz.webhooks import events

MAX_TAGS = 12
MAX_TAG_LENGTH = 40
MAX_NOTES = 10_000
_SPACES = re.compile(r"\s+")


class LeadInputError(ValueError):
    """A status, tag or note the coach cannot save; `code` names it for the German message."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class LeadWork:
    """What the coach has recorded about one lead."""

    status: str
    notes: str
    tags: tuple[str, ...]
    history: tuple[LeadStatusChange, ...]


def _unsafe(char: str) -> bool:
    # Control and format characters (bidi overrides, zero-width) have no place in a tag.
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs")


def parse_tags(raw: str) -> tuple[str, ...]:
    """Tags from a comma-separated field: trimmed, inner spaces collapsed, duplicates (ignoring
    case) dropped, in the order given. Raises LeadInputError for too many, too long or unsafe."""
    tags: list[str] = []
    seen: set[str] = set()
    for part in raw.split(","):
        tag = _SPACES.sub(" ", part).strip()
        if not tag:
            continue
        if any(_unsafe(char) for char in tag):
            raise LeadInputError("tag_chars")
        if len(tag) > MAX_TAG_LENGTH:
            raise LeadInputError("tag_length")
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise LeadInputError("tag_count")
    return tuple(tags)


def clean_notes(raw: str) -> str:
    """The notes as typed, line ends unified; raises LeadInputError when too long or unsafe."""
    notes = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(notes) > MAX_NOTES:
        raise LeadInputError("notes_length")
    if any(_unsafe(char) and char not in "\n\t" for char in notes):
        raise LeadInputError("notes_chars")
    return notes


def work_on(response_id: int) -> LeadWork:
    """The status, notes, tags and status history of one lead ("new" when untouched)."""
    record = db.session.get(LeadRecord, response_id)
    return LeadWork(
        status=record.status if record else "new",
        notes=record.notes if record else "",
        tags=tags_of(response_id),
        history=tuple(
            db.session.scalars(
                select(LeadStatusChange)
                .where(LeadStatusChange.response_id == response_id)
                .order_by(LeadStatusChange.id)
            )
        ),
    )


def tags_of(response_id: int) -> tuple[str, ...]:
    """One lead's tags, alphabetically."""
    return tuple(
        db.session.scalars(
            select(LeadTag.tag).where(LeadTag.response_id == response_id).order_by(LeadTag.tag)
        )
    )


def known_tags() -> list[str]:
    """Every tag in use, for the leads list's filter."""
    return list(db.session.scalars(select(LeadTag.tag).distinct().order_by(LeadTag.tag)))


def update(
    response_id: int,
    *,
    status: str,
    notes: str,
    tags: Sequence[str],
    now: datetime | None = None,
) -> bool:
    """Save the coach's status, notes and tags for a lead; False when the lead is gone.

    A status change is recorded with its time; a change of status or tags tells the CRM
    (`lead.updated`). Saving the same values again changes nothing.
    """
    if status not in LEAD_STATUSES:
        raise LeadInputError("status")
    now = now or utcnow()
    with database.write():
        response = db.session.get(Response, response_id)
        if response is None or response.status != "finished":
            return False
        record = db.session.get(LeadRecord, response_id)
        old_status = record.status if record else "new"
        old_tags = set(tags_of(response_id))
        if record is None:
            record = LeadRecord(response_id=response_id, status=old_status, notes="")
            db.session.add(record)
        if (record.status, record.notes, old_tags) == (status, notes, set(tags)):
            return True
        record.status, record.notes, record.updated_at = status, notes, now
        if status != old_status:
            db.session.add(
                LeadStatusChange(
                    response_id=response_id,
                    old_status=old_status,
                    new_status=status,
                    changed_at=now,
                )
            )
        if set(tags) != old_tags:
            _replace_tags(response_id, tags)
        if status != old_status or set(tags) != old_tags:
            events.lead_updated(response, status=status, tags=sorted(tags), at=now)
        return True


def _replace_tags(response_id: int, tags: Iterable[str]) -> None:
    db.session.execute(delete(LeadTag).where(LeadTag.response_id == response_id))
    db.session.add_all(LeadTag(response_id=response_id, tag=tag) for tag in tags)


def forget_for_retention(due: Select[Any]) -> None:
    """Clear the notes and drop the tags of the leads among `due` (the ids of the responses
    about to be anonymised; caller's transaction): both are free text that may name the person.
    The status and its history stay, like the scores."""
    db.session.execute(
        update_rows(LeadRecord)
        .where(LeadRecord.response_id.in_(due), LeadRecord.notes != "")
        .values(notes="")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(LeadTag)
        .where(LeadTag.response_id.in_(due))
        .execution_options(synchronize_session=False)
    )
