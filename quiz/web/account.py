"""The taker's links from the emails and the result page: confirm, unsubscribe, export, delete.

Every route takes a signed link (`quiz.links`) whose purpose must match; a tampered link, one for
another purpose, or one whose response is gone gets a clear page instead of an action. Nothing
here needs a login: the signed link is the proof. State changes happen only on POST, because mail
scanners open links in emails (GET) on their own.
"""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    current_app,
    make_response,
    render_template,
    request,
    session,
)
from werkzeug.wrappers import Response as BaseResponse

from quiz.app_state import get_content
from quiz.extensions import csrf
from quiz.links import (
    DATA,
    OPTIN,
    UNSUBSCRIBE,
    LinkError,
    LinkExpired,
    digest_matches,
    external_url,
    make_token,
    optin_max_age,
    read_token,
)
from quiz.models import Response as QuizResponse
from quiz.taker import response_reads, rights
from quiz.web import limits

bp = Blueprint("account", __name__)

Page = tuple[str, int]


class _Refused(Exception):
    """The link cannot be used; `page` is what to show instead."""

    def __init__(self, page: Page) -> None:
        self.page = page


def link_error(reason: str) -> Page:
    """The page of a link that cannot be used: "gone" (404) or "invalid" (400)."""
    status = 404 if reason == "gone" else 400
    return render_template("account/link_error.html", reason=reason), status


def _response(purpose: str, token: str, max_age: int | None = None) -> QuizResponse:
    """The response a link names, or _Refused with the page to show."""
    try:
        response_id, digest = read_token(current_app.config, purpose, token, max_age)
    except LinkExpired:
        raise
    except LinkError:
        raise _Refused(link_error("invalid")) from None
    response = rights.response_for_link(response_id, digest)
    if response is None:
        raise _Refused(link_error("gone"))
    return response


@bp.errorhandler(_Refused)
def refused(error: _Refused) -> Page:
    """Show the page the refused link deserves."""
    return error.page


# The session key of the data link waiting to be shown on the first view of a result.
_LINK_ONCE = "rights_link_once"


def offer_data_link_once(response_id: int, result_token: str) -> None:
    """Keep the data link for the next view of this result in this browser, unless it is emailed.

    The result page is no key to the taker's data: the export and the deletion have a link of
    their own, sent with the result email; a taker who gets no email sees it once, right after
    the finish, and is asked to keep it. A leaked result link never shows it.
    """
    if response_reads.summary_queued(response_id):
        return
    session[_LINK_ONCE] = make_token(current_app.config, DATA, response_id, result_token)


def take_data_link_once(result_token: str) -> str | None:
    """The data link offered for this result, taken from the browser's session (absolute URL)."""
    if _LINK_ONCE not in session:
        return None  # the usual case, decided without reading a link
    token = session[_LINK_ONCE]
    try:
        _response_id, digest = read_token(current_app.config, DATA, str(token))
    except LinkError:
        session.pop(_LINK_ONCE)
        return None
    if not digest_matches(result_token, digest):
        return None  # another result's link waits for that result's first view
    session.pop(_LINK_ONCE)
    return external_url(current_app, "account.data", token=token)


# --- double opt-in ------------------------------------------------------------------------------


@bp.get("/bestaetigen/<token>")
@limits.token_misses
def confirm(token: str) -> Page:
    """The confirmation page: one button; an expired link offers a fresh one."""
    try:
        response = _response(OPTIN, token, optin_max_age(current_app.config))
    except LinkExpired as expired:
        if rights.response_for_link(expired.response_id, expired.digest) is None:
            return link_error("gone")
        return render_template("account/optin.html", state="expired", token=token), 410
    state = rights.marketing_state(response.id)
    return render_template("account/optin.html", state=state, token=token), 200


@bp.post("/bestaetigen/<token>")
@limits.token_misses
def confirm_post(token: str) -> Page:
    """Confirm the marketing consent; confirming twice changes nothing."""
    try:
        response = _response(OPTIN, token, optin_max_age(current_app.config))
    except LinkExpired:
        return render_template("account/optin.html", state="expired", token=token), 410
    outcome = rights.confirm_optin(response.id)
    return render_template("account/optin.html", state=outcome, token=token), 200


@bp.post("/bestaetigen/neu")
@limits.token_misses
@limits.posts(limits.from_config("QUIZ_LIMIT_MAIL"))
def resend() -> Page:
    """Send a fresh confirmation email for a genuine (possibly expired) link."""
    token = request.form.get("token", "")
    try:
        response = _response(OPTIN, token, None)
    except LinkExpired:  # pragma: no cover - no max_age, so it cannot expire
        return link_error("invalid")
    outcome = rights.resend_optin(response.id)
    return render_template("account/resent.html", outcome=outcome), 200


# --- unsubscribe --------------------------------------------------------------------------------


@bp.get("/abmelden/<token>")
@limits.token_misses
def unsubscribe(token: str) -> Page:
    """Ask before unsubscribing (a mail scanner opening the link must not unsubscribe)."""
    response = _response(UNSUBSCRIBE, token)
    state = rights.marketing_state(response.id)
    return render_template("account/unsubscribe.html", state=state, token=token), 200


@csrf.exempt
@bp.post("/abmelden/<token>")
@limits.token_misses
def unsubscribe_post(token: str) -> Page:
    """Unsubscribe; also the RFC 8058 one-click POST, which mail programs send without a form."""
    response = _response(UNSUBSCRIBE, token)
    rights.unsubscribe(response.id)
    return render_template("account/unsubscribe.html", state="done", token=token), 200


# --- the taker's data ---------------------------------------------------------------------------


@bp.get("/daten/<token>")
@limits.token_misses
def data(token: str) -> Page:
    """Download or delete everything stored about this quiz."""
    response = _response(DATA, token)
    return render_template(
        "account/data.html", token=token, result_token=response.result_token
    ), 200


@bp.get("/daten/<token>/export.json")
@limits.token_misses
def export(token: str) -> BaseResponse:
    """All stored data of this quiz as a JSON download."""
    response = _response(DATA, token)
    payload = rights.export_data(get_content(), response)
    download = make_response(json.dumps(payload, ensure_ascii=False, indent=2))
    download.headers["Content-Type"] = "application/json; charset=utf-8"
    download.headers["Content-Disposition"] = 'attachment; filename="engpass-quiz-daten.json"'
    return download


@bp.get("/daten/<token>/loeschen")
@limits.token_misses
def delete(token: str) -> Page:
    """The confirmation step before deleting."""
    _response(DATA, token)
    return render_template("account/delete.html", token=token), 200


@bp.post("/daten/<token>/loeschen")
@limits.token_misses
def delete_post(token: str) -> Page:
    """Delete the response, its answers, consents and emails."""
    response = _response(DATA, token)
    rights.delete_data(response.id)
    return render_template("account/deleted.html"), 200
