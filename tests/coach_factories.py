"""Test data for the coach view: responses written straight to the tables, and a logged-in coach."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from quiz.coach.accounts import create_coach
from quiz.counters import funnel, funnel_rebuild, item_stats, rollup_rebuild, rollups
from quiz.counters.rollup_keys import Key
from quiz.database import begin_write
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Consent, OutboxMessage, Response

PASSWORD = "korrekt-Pferd-Batterie-42"
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def at(text: str) -> datetime:
    """A UTC datetime from 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_response(
    *,
    started: str,
    finished: str | None = None,
    steps: int = 0,
    scores: dict[str, int] | None = None,
    campaign: str | None = None,
    version: str = "2026.1",
    demo: bool = False,
    first_name: str | None = None,
    email: str | None = None,
    marketing: str | None = None,  # None, "granted", "confirmed", "withdrawn"
    mail_status: str | None = None,
    maintain: bool = True,
) -> Response:
    """Add one response (finished when `finished` is given); count it in the rollups and, when
    finished, in the item statistics (unless `maintain` is off)."""
    begin_write()
    fields: dict[str, Any] = {
        "draft_token": secrets.token_urlsafe(24),
        "status": "finished" if finished else "draft",
        "content_version": version,
        "content_hash": "0" * 64,
        "started_at": at(started),
        "steps_completed": 7 if finished else steps,
        "step_times": {},
        "utm_campaign": campaign,
        "is_demo": demo,
        "first_name": first_name,
        "email": email,
    }
    if finished:
        scores = scores or {}
        full = {d: scores.get(d, 50) for d in SCORED_DIMENSIONS}
        order = {d: i for i, d in enumerate(SCORED_DIMENSIONS)}
        ranking = sorted(full, key=lambda d: (full[d], order[d]))
        fields |= {f"score_{d}": s for d, s in full.items()}
        fields |= {
            "finished_at": at(finished),
            "result_token": secrets.token_urlsafe(24),
            "bottleneck": ranking[0],
            "runner_up": ranking[1],
            "bands": {
                d: ("kritisch" if s < 40 else "ausbaufaehig" if s < 70 else "stark")
                for d, s in full.items()
            },
        }
    response = Response(**fields)
    db.session.add(response)
    db.session.flush()
    if marketing:
        db.session.add(
            Consent(
                response_id=response.id,
                kind="marketing",
                text_version="1",
                text_hash="0" * 64,
                granted_at=at(finished or started),
                confirmed_at=at(finished or started) if marketing != "granted" else None,
                withdrawn_at=at(finished or started) if marketing == "withdrawn" else None,
            )
        )
    if mail_status:
        db.session.add(
            OutboxMessage(
                response_id=response.id,
                kind="result",
                recipient=email or "x@example.com",
                status=mail_status,
            )
        )
    if maintain:
        if finished:
            # Judged and counted in the item statistics as a finish would (it has no answers);
            # judged first, so the rollups count it in its quality class.
            item_stats.on_finish(response, [], statements=frozenset())
        rollups.on_insert([response])
        funnel.on_insert([response])
    db.session.commit()
    return response


def assert_rollups_equal_a_rebuild(app: Flask) -> dict[Key, tuple[int, int]]:
    """Assert the maintained rollups equal a rebuild from the raw rows (day and month level).

    Returns the day level, keyed as `rollup_keys.Key`.
    """
    with app.app_context():
        maintained = rollup_rebuild.snapshot()
        funnel_kept = funnel_rebuild.snapshot()
        begin_write()
        rollup_rebuild.rebuild()
        funnel_rebuild.rebuild()
        rebuilt = rollup_rebuild.snapshot()
        funnel_rebuilt = funnel_rebuild.snapshot()
        db.session.rollback()
    assert maintained == rebuilt
    assert funnel_kept == funnel_rebuilt
    return {key[1:]: value for key, value in maintained.items() if key[0] == "day"}


def create_test_coach(app: Flask, email: str = "coach@example.com") -> None:
    """A coach account with PASSWORD."""
    with app.app_context():
        create_coach(email, PASSWORD)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_PATTERN.search(html)
    assert match, "no csrf_token on the page"
    return match.group(1)


def login(
    client: FlaskClient, email: str = "coach@example.com", password: str = PASSWORD, next_: str = ""
) -> Any:
    """Post the login form; returns the response."""
    url = "/coach/login" + (f"?next={next_}" if next_ else "")
    page = client.get(url)
    return client.post(
        url,
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": email,
            "password": password,
        },
    )
