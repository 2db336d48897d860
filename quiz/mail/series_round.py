"""Which emails of the series after the quiz one claim round may send now (issue 24).

The series is the follow-ups and the invitation to take the quiz again: none goes between 21:00
and 7:00 in QUIZ_TIMEZONE, none within `followup.min_gap` of the last one to the same address
(so after an outage they resume one at a time), and none to an address an email was refused to
for good. Reads only: what it needs about the round's addresses is read in two queries for the
whole round, and the outbox (quiz.mail.outbox, the table's one writer) applies each decision to
the row it has locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from quiz.extensions import db
from quiz.mail import followup_timing
from quiz.mail.compose import FOLLOWUP, REASSESS
from quiz.models import OutboxMessage
from quiz.site import settings as site_settings
from quiz.site.durations import parse_duration

SERIES_KINDS = (FOLLOWUP, REASSESS)

# (id, status, sent_at, claimed_at) of an email of the series sent or being sent.
_Sent = tuple[int, str, datetime | None, datetime | None]


@dataclass(frozen=True)
class Decision:
    """What to do with one email of the series in this round: send it (neither field set),
    cancel it, or put it back until a later time."""

    cancel: bool = False  # an earlier email to the address was refused for good
    wait_until: datetime | None = None  # when it may go instead

    @property
    def send(self) -> bool:
        return not self.cancel and self.wait_until is None


class SeriesRound:
    """The decisions for one claim round's emails of the series, in the order they are asked
    (an email sent earlier in the round counts for the gap of the next one to the address)."""

    def __init__(self, zone: str, now: datetime, rows: Sequence[OutboxMessage]) -> None:
        self.now = now
        self.zone = ZoneInfo(zone)
        self.sending: dict[str, datetime] = {}
        self.rows = {row.id: row for row in rows}
        addresses = {row.recipient.lower() for row in rows if row.kind in SERIES_KINDS}
        self.min_gap = timedelta(0)
        self.failed: set[str] = set()
        self.sent: dict[str, list[_Sent]] = {}
        if not addresses:
            return
        self.min_gap = parse_duration(site_settings.current().text("followup.min_gap") or "0s")
        self.failed = _failed_for_good(addresses)
        self.sent = _sent_to(addresses)

    def decide(self, row: OutboxMessage) -> Decision:
        address = row.recipient.lower()
        if row.status == "queued" and address in self.failed:
            return Decision(cancel=True)
        last = self.sending.get(address) or self._last_sent(address, row.id)
        # From now, not from when it fell due: one due at 20:59 and claimed at 21:01 waits too.
        due = max(row.next_attempt_at, self.now)
        allowed = followup_timing.allowed_at(due, last, self.min_gap, self.zone)
        if allowed > self.now:
            return Decision(wait_until=allowed)
        self.sending[address] = self.now
        return Decision()

    def _last_sent(self, address: str, other_than: int) -> datetime | None:
        """When the last email of the series to this address went out (or is going out now):
        the rows of this round as they stand now, the others as read."""
        times: list[datetime] = []
        for row_id, status, sent_at, claimed_at in self.sent.get(address, ()):
            if row_id == other_than:
                continue
            row = self.rows.get(row_id)
            if row is not None:
                status, sent_at, claimed_at = row.status, row.sent_at, row.claimed_at
            moment = sent_at or claimed_at
            if status in ("sent", "sending") and moment is not None:
                times.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        return max(times, default=None)


def _sent_to(addresses: set[str]) -> dict[str, list[_Sent]]:
    """The series' emails to these addresses sent or being sent, by address."""
    o = OutboxMessage
    found: dict[str, list[_Sent]] = {}
    rows = db.session.execute(
        select(func.lower(o.recipient), o.id, o.status, o.sent_at, o.claimed_at).where(
            func.lower(o.recipient).in_(addresses),
            o.kind.in_(SERIES_KINDS),
            o.status.in_(("sent", "sending")),
        )
    )
    for address, row_id, status, sent_at, claimed_at in rows:
        found.setdefault(address, []).append((row_id, status, sent_at, claimed_at))
    return found


def _failed_for_good(addresses: set[str]) -> set[str]:
    """Which of these addresses an email was refused to for good (an SMTP 5xx at RCPT or DATA)."""
    rows = db.session.execute(
        select(func.lower(OutboxMessage.recipient), OutboxMessage.details).where(
            func.lower(OutboxMessage.recipient).in_(addresses), OutboxMessage.status == "failed"
        )
    )
    return {
        address
        for address, details in rows
        if isinstance(details, dict) and details.get("permanent")
    }
