"""The event payloads, each queued by one call from the code that makes the change.

Every function adds to the caller's session and does not commit. `email` and `first_name` go
out only when the taker gave the data consent (to store the answers and send the result); the
ids are always there, so the CRM can match later events, e.g. `lead.deleted`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from quiz.app_state import get_content
from quiz.domain.content_model import NEXT_STEPS
from quiz.extensions import db
from quiz.models import Consent, Response, utcnow
from quiz.webhooks.queue import drop_for_response, iso, queue_event


def has_data_consent(response_id: int) -> bool:
    """Whether the taker allowed their data to be stored and used (and has not withdrawn it)."""
    consent = db.session.scalar(
        select(Consent.id).where(
            Consent.response_id == response_id,
            Consent.kind == "data",
            Consent.withdrawn_at.is_(None),
        )
    )
    return consent is not None


def _person(response: Response) -> dict[str, Any]:
    if not has_data_consent(response.id):
        return {}
    return {"email": response.email, "first_name": response.first_name}


def _marketing(response_id: int) -> str:
    """none, pending (opt-in email sent), confirmed or withdrawn."""
    consent = db.session.scalar(
        select(Consent)
        .where(Consent.response_id == response_id, Consent.kind == "marketing")
        .order_by(Consent.id.desc())
    )
    if consent is None:
        return "none"
    if consent.withdrawn_at is not None:
        return "withdrawn"
    return "confirmed" if consent.confirmed_at is not None else "pending"


def completed_data(
    response: Response, analysis: list[dict[str, Any]], result_url: str
) -> dict[str, Any]:
    """The `data` of `quiz.completed` for a finished response and its stored analysis.

    `analysis` is the flat list stored with the response (`response.analysis`): the bottleneck
    item carries the diagnosis (`acute`, `tied_with`), and the next steps carry `next_step` 1..3.
    """
    content = get_content()
    bands = dict(response.bands or {})
    bottleneck = response.bottleneck
    dimension = content.dimension_by_id.get(bottleneck or "")
    head = next((item for item in analysis if item.get("kind") == "bottleneck"), {})
    acute = head.get("acute")
    if acute is None and dimension is not None:
        # Older stored analyses lack the diagnosis: acute unless in the dimension's top band.
        top = max(dimension.bands, key=lambda band: band.max).id
        acute = bands.get(dimension.id) != top
    steps = (
        sorted(
            (item for item in analysis if item.get("next_step")), key=lambda item: item["next_step"]
        )
        # Stored analyses from before the next-step ranking (2026.1): their first tips instead.
        or [item for item in analysis if item.get("kind") == "tip"][:NEXT_STEPS]
    )
    return {
        "response_id": response.id,
        "content_version": response.content_version,
        "finished_at": iso(response.finished_at) if response.finished_at else None,
        "scores": response.scores(),
        "bands": bands,
        "bottleneck": {
            "dimension": bottleneck,
            "name": dimension.name if dimension else None,
            "band": bands.get(bottleneck or ""),
            "acute": bool(acute),
            "tied_with": list(head.get("tied_with") or []),
        },
        "runner_up": response.runner_up,
        "next_steps": [
            {"title": item.get("title"), "dimension": item.get("dimension")} for item in steps
        ],
        "utm": {
            "source": response.utm_source,
            "medium": response.utm_medium,
            "campaign": response.utm_campaign,
            "term": response.utm_term,
            "content": response.utm_content,
        },
        "result_url": result_url,
        "newsletter": _marketing(response.id),
        **_person(response),
    }


def quiz_completed(response: Response, analysis: list[dict[str, Any]], result_url: str) -> None:
    """Queue `quiz.completed` (call in the transaction that finishes the response)."""
    queue_event(
        "quiz.completed", completed_data(response, analysis, result_url), response_id=response.id
    )


def optin_confirmed(response: Response, confirmed_at: datetime | None = None) -> None:
    """Queue `lead.optin_confirmed` (call in the transaction that confirms the opt-in)."""
    data = {
        "response_id": response.id,
        "confirmed_at": iso(confirmed_at or utcnow()),
        **_person(response),
    }
    queue_event("lead.optin_confirmed", data, response_id=response.id)


def unsubscribed(
    response: Response, response_ids: list[int] | None = None, at: datetime | None = None
) -> None:
    """Queue `lead.unsubscribed` for a withdrawn newsletter consent.

    `response_ids`: every response of this address whose consent was withdrawn (default: this).
    """
    data = {
        "response_id": response.id,
        "response_ids": sorted(set(response_ids or [response.id])),
        "unsubscribed_at": iso(at or utcnow()),
        **_person(response),
    }
    queue_event("lead.unsubscribed", data, response_id=response.id)


def lead_updated(response: Response, *, status: str, tags: list[str], at: datetime) -> None:
    """Queue `lead.updated`: the coach changed the lead's status or tags (never the notes)."""
    data = {
        "response_id": response.id,
        "status": status,
        "tags": tags,
        "updated_at": iso(at),
        **_person(response),
    }
    queue_event("lead.updated", data, response_id=response.id)


def lead_deleted(response_id: int, at: datetime | None = None) -> None:
    """Drop every event about this taker and queue `lead.deleted` (ids only).

    Call in the transaction that deletes their data. The new event keeps no link to the taker
    (response_id stays empty on the row), so nothing personal is left behind.
    """
    drop_for_response(response_id)
    queue_event("lead.deleted", {"response_id": response_id, "deleted_at": iso(at or utcnow())})
