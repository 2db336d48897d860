"""When a follow-up email may go out: never at night, never two to one person within the gap.

Pure: the outbox asks it for every due follow-up it claims, with the time the taker's last
follow-up went out. A follow-up due at night waits for the morning in QUIZ_TIMEZONE; one due
within `min_gap` of the last waits until the gap has passed (so after an outage the series
resumes one email at a time instead of arriving in a burst).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(7, 0)


def allowed_at(
    due: datetime, last_sent: datetime | None, min_gap: timedelta, zone: ZoneInfo
) -> datetime:
    """The earliest moment at or after `due` when the follow-up may be sent (aware, in UTC's
    terms as given)."""
    moment = due
    if last_sent is not None and moment < last_sent + min_gap:
        moment = last_sent + min_gap
    return _after_quiet_hours(moment, zone)


def _after_quiet_hours(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return moment
    morning = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(morning, QUIET_UNTIL, tzinfo=zone).astimezone(moment.tzinfo)
