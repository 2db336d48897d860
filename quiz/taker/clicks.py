"""The call to action's clicks: the one writer of `cta_clicks`, and the rule that leaves out
mail-security scanners.

A click is personal data (when this taker followed the coach's link, and from where): it joins
the taker's export, goes with their deletion and is named in the privacy notice. Each one is
counted for the dashboard in the same transaction (quiz.counters).

Not counted, nor stored (the redirect still answers, so a scanner sees nothing unusual):

- HEAD requests: link checkers ask for the headers only, a person's browser never does;
- a missing User-Agent, or one naming a known scanner, link-preview bot or HTTP library
  (SCANNER_AGENTS, matched case-insensitively as a substring; headless Chrome included, which
  sandboxes such as urlscan and many gateways drive);
- a click on an email's link (`email`, `followup-N`) within DELIVERY_WINDOW (30 s) after an
  email to that taker was handed to the mail server: gateways such as Microsoft Defender's Safe
  Links and Mimecast open every link as the message arrives, long before a person reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, func, select

from quiz import counters, database
from quiz.extensions import db
from quiz.mail import outbox
from quiz.models import CtaClick, OutboxMessage, Response, utcnow
from quiz.site import settings as site_settings

DELIVERY_WINDOW = timedelta(seconds=30)
SCANNER_AGENTS = (
    # Mail-security gateways and link rewriters.
    "barracuda",
    "proofpoint",
    "mimecast",
    "messagelabs",
    "symantec",
    "trendmicro",
    "trend micro",
    "fortiguard",
    "fortinet",
    "sophos",
    "ironport",
    "cisco",
    "forcepoint",
    "zscaler",
    "checkpoint",
    "safelinks",
    "hornetsecurity",
    "retarus",
    "nospamproxy",
    # Office's own link checks and chat or search previews.
    "microsoft office",
    "ms-office",
    "skypeuripreview",
    "bingpreview",
    "googleimageproxy",
    "google-safety",
    "facebookexternalhit",
    "whatsapp",
    "slackbot",
    "telegrambot",
    "discordbot",
    # Generic robots, headless browsers and HTTP libraries.
    "bot",
    "crawler",
    "spider",
    "preview",
    "scanner",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
)


def scanner_reason(
    method: str, user_agent: str, placement: str, delivered_at: datetime | None, now: datetime
) -> str | None:
    """Why this request is a scanner's rather than a person's click, or None (a click)."""
    if method.upper() == "HEAD":
        return "head"
    agent = user_agent.strip().lower()
    if not agent:
        return "no user agent"
    if any(marker in agent for marker in SCANNER_AGENTS):
        return "scanner user agent"
    is_email = placement == "email" or placement.startswith("followup-")
    if is_email and delivered_at is not None and now - delivered_at < DELIVERY_WINDOW:
        return "opened as the email arrived"
    return None


def last_delivery(response_id: int) -> datetime | None:
    """When the latest email to this response was handed to the mail server."""
    value: datetime | None = db.session.scalar(
        select(func.max(OutboxMessage.sent_at)).where(OutboxMessage.response_id == response_id)
    )
    return value


def record(response_id: int, placement: str, now: datetime | None = None) -> bool:
    """Store and count one click on the call to action; False if the response is gone."""
    with database.write():
        if db.session.get(Response, response_id) is None:
            return False
        click = CtaClick(response_id=response_id, placement=placement, clicked_at=now or utcnow())
        db.session.add(click)
        db.session.flush()
        counters.on_cta_click(click.id)
        if site_settings.current().flag("followup.stop_on_click"):
            # The taker took the step the series leads to: no more follow-ups.
            outbox.cancel_followups([response_id])
        return True


def of_response(response_id: int) -> list[tuple[str, datetime]]:
    """This taker's clicks as (placement, when), oldest first (the coach's lead page)."""
    rows = db.session.execute(
        select(CtaClick.placement, CtaClick.clicked_at)
        .where(CtaClick.response_id == response_id)
        .order_by(CtaClick.id)
    )
    return [(placement, clicked_at) for placement, clicked_at in rows]


def for_response(response_id: int) -> list[dict[str, Any]]:
    """This taker's clicks, oldest first, for their data export."""
    return [
        {"placement": placement, "clicked_at": clicked_at.isoformat()}
        for placement, clicked_at in of_response(response_id)
    ]


def delete_for_responses(response_ids: Iterable[int]) -> int:
    """Delete the clicks of these responses (caller's transaction), taking back their counts."""
    condition = CtaClick.__table__.c.response_id.in_(list(response_ids))
    counters.before_clicks_deleted(condition)
    result = db.session.execute(delete(CtaClick.__table__).where(condition))
    assert isinstance(result, CursorResult)  # a DELETE's result
    return int(result.rowcount or 0)
