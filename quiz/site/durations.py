"""Durations as a coach writes them in the settings: `2d 5d 10d`, `1d`, `8w`, `30s`.

Units: s, m, h, d, w (seconds to weeks), a whole number before each, so a test can schedule in
seconds what a site schedules in days.
"""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"([0-9]{1,5})([smhdw])")


def parse_duration(text: str) -> timedelta:
    """One duration such as `2d`; ValueError for anything else."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


def parse_durations(text: str) -> tuple[timedelta, ...]:
    """Durations separated by spaces, in the order given; ValueError if one is malformed."""
    return tuple(parse_duration(part) for part in text.split())
