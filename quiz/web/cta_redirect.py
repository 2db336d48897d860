"""The call to action's redirect, `/weiter/<signed id>`: count the click, send the taker on.

The signed id (quiz.links.make_cta_token) names the response and where the link was shown; the
target is never in the link: it is the call to action configured now (its URL, else a reply to
the coach's address), so the redirect can lead nowhere else (no open redirect). A forged or
foreign id, a response that is gone, or no target configured any more: 404. Mail-security
scanners get the redirect but are neither stored nor counted (quiz.taker.clicks). No cookie is
set and the page is never cached, so every click reaches us.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, url_for
from werkzeug.wrappers import Response

from quiz.links import LinkError, make_cta_token, read_cta_token
from quiz.models import Response as QuizResponse
from quiz.models import utcnow
from quiz.site import settings as site_settings
from quiz.taker import clicks, rights

bp = Blueprint("cta", __name__)


@bp.route("/weiter/<token>", methods=["GET", "HEAD"])
def follow(token: str) -> Response:
    """Record a person's click (not a scanner's) and redirect to the configured target."""
    try:
        response_id, digest, placement = read_cta_token(current_app.config, token)
    except LinkError:
        abort(404)
    response = rights.response_for_link(response_id, digest)
    target = site_settings.current().cta_href
    if response is None or not target:
        abort(404)
    now = utcnow()
    reason = clicks.scanner_reason(
        request.method,
        request.headers.get("User-Agent", ""),
        placement,
        clicks.last_delivery(response_id),
        now,
    )
    if reason is None:
        clicks.record(response_id, placement, now)
    else:
        current_app.logger.info(
            "cta link of response %s opened by a scanner (%s)", response_id, reason
        )
    answer = redirect(target, code=303)
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.app_template_global()
def cta_link(response: QuizResponse, placement: str) -> str:
    """The call to action's link for a page of this site (the emails and the PDF build theirs
    under PUBLIC_URL)."""
    token = make_cta_token(current_app.config, response.id, response.result_token or "", placement)
    return url_for("cta.follow", token=token)
