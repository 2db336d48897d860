"""Composing emails: complete messages from `.txt` + `.html` template pairs, ready to deliver.

Nothing here needs a request: links are built under PUBLIC_URL, and the app is passed in. The
outbox (`quiz.mail.outbox`) decides what to send and when, `quiz.mail.transport` delivers; this
module only builds the messages (both parts, headers, the chart inline).

One module for every kind of message on purpose: they share the sender, the headers, the
footer with the data links and the unsubscribe link; the headers' safety rules are in
quiz.mail.headers.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Any, cast

from flask import Flask, has_app_context

from quiz import result_progress
from quiz.app_state import get_content, get_content_version
from quiz.charts import CHART_WIDTH_IN, chart_height_in
from quiz.counters import norms_read
from quiz.domain import followups, result_layout
from quiz.extensions import db
from quiz.links import DATA, OPTIN, UNSUBSCRIBE, external_url, make_cta_token, make_token
from quiz.links import REASSESS as REASSESS_LINK
from quiz.mail.headers import (
    AddressError,
    OutgoingMessage,
    address_header,
    envelope_address,
    link_header,
    usable_name,
)
from quiz.mail.transport import PermanentFailure, UndeliverableAddress, redact_reply
from quiz.models import Answer, Response
from quiz.progress_chart import progress_chart_height_in, progress_chart_png
from quiz.site import settings as site_settings

KINDS = ("result", "optin")
# The note to the coach that their login was locked (no response behind it).
COACH_ALERT = "coach_alert"
# The note to the coach about a new lead (a confirmed double opt-in; details name the lead).
NEW_LEAD = "new_lead"
# An email of the follow-up series after a confirmed newsletter sign-up (issue 24).
FOLLOWUP = "followup"
# The invitation to take the quiz again, with the before-and-after link /wieder/ (issue 24).
REASSESS = "reassess"
# Width of the chart in the HTML email, in CSS pixels; the PNG is rendered at a higher resolution.
EMAIL_CHART_WIDTH = 560


def new_message_id(config: Mapping[str, Any]) -> str:
    """A fresh Message-ID in the sender's domain."""
    domain = envelope_address(sender_address(config)[1]).rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


def sender_address(config: Mapping[str, Any]) -> tuple[str, str]:
    """The sender as (display name, address): the site settings' (the name follows the brand),
    the address of MAIL_FROM where none is set."""
    if has_app_context():
        return site_settings.current_or_defaults().sender(str(config["MAIL_FROM"]))
    pairs = getaddresses([str(config["MAIL_FROM"])])
    name, addr = pairs[0] if pairs else ("", "")
    return name, addr or site_settings.DEVELOPMENT_SENDER


def compose(
    app: Flask,
    *,
    kind: str,
    recipient: str,
    message_id: str,
    response: Response,
    chart_png: bytes | None = None,
    now: datetime | None = None,
    answers: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    """The complete message of one outbox row: both parts, headers, the chart inline (result).

    `answers`: the response's stored answers when the caller read them already (a delivery
    round reads its batch's at once); read here otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    config = app.config
    token = response.result_token or ""
    first_name = usable_name(response.first_name)
    context: dict[str, Any] = {
        "coach_name": site_settings.current_or_defaults(app).brand_name,
        "first_name": first_name,
        **_taker_links(app, response),
        "optin_days": config["MAIL_OPTIN_DAYS"],
    }
    chart_cid = make_msgid(domain="chart.invalid") if chart_png and kind == "result" else None
    if kind == "result":
        context.update(result_context(app, response, answers))
        context.update(cta_context(app, response, "email"))
        context["chart_cid"] = chart_cid[1:-1] if chart_cid else None
        context["chart_width"] = EMAIL_CHART_WIDTH
        context["chart_height"] = round(
            EMAIL_CHART_WIDTH * chart_height_in(len(context["rows"])) / CHART_WIDTH_IN
        )
        context.update(_progress_context(app, response))
    else:
        context["confirm_url"] = external_url(
            app, "account.confirm", token=make_token(config, OPTIN, response.id, token)
        )
    message = _message(app, kind, context, recipient, first_name, message_id, now)
    message["List-Unsubscribe"] = link_header("List-Unsubscribe", context["unsubscribe_url"])
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    images = [(f"<{context[key]}>", png, name) for key, png, name in _inline(context, chart_png)]
    if images:
        html_part = cast(EmailMessage, message.get_payload(1))
        html_part.make_related(boundary=_boundary())
        for cid, png, filename in images:
            html_part.add_related(
                png,
                maintype="image",
                subtype="png",
                cid=cid,
                filename=filename,
                disposition="inline",
            )
    return message


def _inline(context: Mapping[str, Any], chart_png: bytes | None) -> list[tuple[str, bytes, str]]:
    """The summary's inline images: (its cid's context key, PNG, file name)."""
    images = []
    if context.get("chart_cid") and chart_png:
        images.append(("chart_cid", chart_png, "engpass-profil.png"))
    if context.get("progress_cid"):
        png = progress_chart_png(context["progress"].rows)
        images.append(("progress_cid", png, "vorher-nachher.png"))
    return images


def _progress_context(app: Flask, response: Response) -> dict[str, Any]:
    """A re-assessment's before and after (quiz.result_progress), as the result page shows it."""

    def read() -> dict[str, Any]:
        progress = result_progress.progress_of(response, app)
        earlier = result_progress.earlier_of(response)
        if progress is None or earlier is None:
            return {"progress": None}
        height = progress_chart_height_in(len(progress.rows))
        return {
            "progress": progress,
            "earlier_finished": earlier.finished_at,
            "progress_cid": make_msgid(domain="chart.invalid")[1:-1] if progress.rows else None,
            "progress_height": round(EMAIL_CHART_WIDTH * height / CHART_WIDTH_IN),
        }

    if has_app_context():
        return read()
    with app.app_context():
        return read()


def compose_followup(
    app: Flask,
    *,
    recipient: str,
    message_id: str,
    response: Response,
    details: Mapping[str, Any],
    now: datetime | None = None,
    answers: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    """Email n of the taker's follow-up series: its text from the content, the question and
    answer it builds on quoted first, the call to action, the unsubscribe link (`answers` as
    for `compose`)."""
    content = get_content(app)
    number = int(details.get("number") or 1)
    dimension = response.bottleneck or ""
    email = next(
        (
            e
            for series in content.followups.values()
            for e in series
            if e.id == details.get("email_id")
        ),
        None,
    ) or followups.email_of(content, dimension, number)
    if email is None:
        raise PermanentFailure("the content has no such follow-up email")
    site = site_settings.current_or_defaults(app)
    context: dict[str, Any] = {
        "coach_name": site.brand_name,
        "first_name": usable_name(response.first_name),
        "subject": email.subject,
        "paragraphs": [p.strip() for p in email.text.split("\n") if p.strip()],
        "quote": followups.quoted_answer(
            content, _answers(app, response) if answers is None else answers, dimension, number
        ),
        "citations": sorted({content.source_by_file[ref.file].citation for ref in email.sources}),
        # Through /weiter/, counted as followup-N.
        **cta_context(app, response, f"followup-{min(max(number, 1), 99)}"),
        **_taker_links(app, response),
    }
    message = _message(app, FOLLOWUP, context, recipient, context["first_name"], message_id, now)
    message["List-Unsubscribe"] = link_header("List-Unsubscribe", context["unsubscribe_url"])
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def compose_reassess(
    app: Flask, *, recipient: str, message_id: str, response: Response, now: datetime | None = None
) -> OutgoingMessage:
    """The invitation to take the quiz again: the signed /wieder/ link (valid for
    `followup.link_days` from now), the earlier bottleneck, the unsubscribe link."""
    site = site_settings.current_or_defaults(app)
    link_days = site.text("followup.link_days")
    content = get_content_version(response.content_version, app)
    token = make_token(app.config, REASSESS_LINK, response.id, response.result_token or "")
    context: dict[str, Any] = {
        "coach_name": site.brand_name,
        "first_name": usable_name(response.first_name),
        "finished": response.finished_at,
        "bottleneck": next(
            (d.name for d in content.dimensions if d.id == response.bottleneck), None
        ),
        "reassess_url": external_url(app, "reassess.start", token=token),
        "link_days": link_days,
        **_taker_links(app, response),
    }
    message = _message(app, REASSESS, context, recipient, context["first_name"], message_id, now)
    message["List-Unsubscribe"] = link_header("List-Unsubscribe", context["unsubscribe_url"])
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _taker_links(app: Flask, response: Response) -> dict[str, str]:
    """The links every email to a taker carries: result, unsubscribe, data, privacy."""
    config, token = app.config, response.result_token or ""
    return {
        "result_url": external_url(app, "public.result", token=token),
        "unsubscribe_url": external_url(
            app, "account.unsubscribe", token=make_token(config, UNSUBSCRIBE, response.id, token)
        ),
        "data_url": external_url(
            app, "account.data", token=make_token(config, DATA, response.id, token)
        ),
        "privacy_url": external_url(app, "legal.privacy"),
    }


def compose_coach_alert(
    app: Flask,
    *,
    recipient: str,
    message_id: str,
    locked_minutes: int,
    now: datetime | None = None,
) -> OutgoingMessage:
    """The note to the coach that their login was locked for a while (no unsubscribe: a notice)."""
    context: dict[str, Any] = {
        "coach_name": site_settings.current_or_defaults(app).brand_name,
        "locked_minutes": locked_minutes,
        "privacy_url": external_url(app, "legal.privacy"),
    }
    return _message(app, COACH_ALERT, context, recipient, "", message_id, now)


def compose_new_lead(
    app: Flask,
    *,
    recipient: str,
    message_id: str,
    lead: Response,
    now: datetime | None = None,
) -> OutgoingMessage:
    """The note to the coach that a lead confirmed the newsletter: first name, bottleneck,
    scores and the link to the lead's page (a notice to the coach: no unsubscribe)."""
    content = get_content_version(lead.content_version, app)
    bands = lead.bands or {}
    scores = lead.scores()
    rows = []
    for dimension in content.dimensions:
        if dimension.id in scores:
            band = {b.id: b.label for b in dimension.bands}.get(bands.get(dimension.id, ""), "")
            rows.append(
                {
                    "name": dimension.name,
                    "score": scores[dimension.id],
                    "band_label": band,
                    "is_bottleneck": dimension.id == lead.bottleneck,
                }
            )
    bottleneck = next((row["name"] for row in rows if row["is_bottleneck"]), None)
    context: dict[str, Any] = {
        "coach_name": site_settings.current_or_defaults(app).brand_name,
        "first_name": usable_name(lead.first_name),
        "bottleneck": bottleneck,
        "rows": rows,
        "lead_url": external_url(app, "coach.lead_detail", response_id=lead.id),
        "privacy_url": external_url(app, "legal.privacy"),
    }
    return _message(app, NEW_LEAD, context, recipient, "", message_id, now)


def _message(
    app: Flask,
    kind: str,
    context: dict[str, Any],
    recipient: str,
    display_name: str,
    message_id: str,
    now: datetime | None,
) -> OutgoingMessage:
    """Both parts from the template pair and the headers every message has."""
    try:
        to_header = address_header("To", display_name, recipient)
        envelope_to = envelope_address(recipient)
    except AddressError as exc:
        raise UndeliverableAddress(f"invalid recipient address: {redact_reply(str(exc))}") from None
    sender_name, sender = sender_address(app.config)
    # Every message says who sends it and links the Impressum (§ 5 DDG).
    context.setdefault("legal_sender", site_settings.current_or_defaults(app).postal_sender)
    context.setdefault("impressum_url", external_url(app, "legal.impressum"))
    text_template = app.jinja_env.get_template(f"email/{kind}.txt")
    text_module = text_template.make_module(context)
    html = app.jinja_env.get_template(f"email/{kind}.html").render(context)
    subject = " ".join(str(getattr(text_module, "subject", "")).split())

    message = OutgoingMessage()
    message.envelope_from = envelope_address(sender)
    message.envelope_to = [envelope_to]
    message["Subject"] = subject
    message["From"] = address_header("From", sender_name, sender)
    message["To"] = to_header
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(str(text_module).strip() + "\n")
    # Boundaries chosen here, not by the generator: it would scan the whole flattened message
    # for each one it invents. "=_" never occurs in quoted-printable or base64 bodies.
    message.make_alternative(boundary=_boundary())
    message.add_alternative(html, subtype="html")
    return message


def _boundary() -> str:
    return "=_" + secrets.token_hex(16)


def result_context(
    app: Flask, response: Response, answers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What the summary shows, in the result page's order: diagnosis, next steps, chart, link.

    The steps are the analysis's own ranking (its `next_step` markers), the same three the page
    shows; texts come from the content version the response was scored with. `norms` maps a
    dimension to the taker's percentile ("Sie liegen vor X %"), empty below QUIZ_NORMS_MIN.
    """
    analysis = response.analysis or []
    content = get_content_version(response.content_version, app)
    order = {dimension.id: index for index, dimension in enumerate(content.dimensions)}
    rows = sorted(
        (item for item in analysis if item.get("kind") in ("bottleneck", "dimension")),
        key=lambda item: order.get(item.get("dimension", ""), len(order)),
    )
    summary = result_layout.build_layout(
        content,
        analysis,
        _answers(app, response) if answers is None else answers,
        step_words=None,
    )
    return {
        "bottleneck": summary.bottleneck,
        "report": summary,
        "rows": rows,
        "steps": [step.item for step in summary.steps],
        "bottleneck_id": response.bottleneck,
        "norms": _norms(app, response),
    }


def cta_context(app: Flask, response: Response, placement: str) -> dict[str, Any]:
    """The call to action of an email: its link through /weiter/ (counted under `placement`),
    label and text (the bottleneck's own when the coach wrote one); no link without a target."""
    site = site_settings.current_or_defaults(app)
    url = None
    if site.cta_href:
        token = make_cta_token(app.config, response.id, response.result_token or "", placement)
        url = external_url(app, "cta.follow", token=token)
    return {
        "cta_url": url,
        "cta_label": site.text("cta.label"),
        "cta_text": site.cta_text(response.bottleneck),
        "cta_color": site.color,
    }


def _norms(app: Flask, response: Response) -> dict[str, int]:
    """The taker's X per dimension as the result page shows it, read when the mail is composed."""

    def read() -> dict[str, int]:
        return norms_read.result_norms(app.config, response.content_version, response.scores())

    if has_app_context():
        return read()
    with app.app_context():
        return read()


def _answers(app: Flask, response: Response) -> dict[str, str]:
    """The stored answers, for the diagnosis' "the answers that led there"."""
    query = db.select(Answer.question_id, Answer.option_id).where(Answer.response_id == response.id)
    if has_app_context():
        return {question: option for question, option in db.session.execute(query)}
    with app.app_context():
        return {question: option for question, option in db.session.execute(query)}
