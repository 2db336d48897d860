"""The re-assessment's link from the invitation email: /wieder/<token> (issue 24).

The signed link names the earlier response and proves the mailbox, so the new draft takes its
address and consents along (no second opt-in). The GET only shows a start button, because mail
scanners open links in emails on their own; the POST (with its CSRF token) starts the draft.
An expired link is a 410 page, a tampered one a 400 and one whose response is gone a 404.
"""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from quiz import result_progress
from quiz.app_state import get_content
from quiz.links import REASSESS, LinkError, LinkExpired, read_token, reassess_max_age
from quiz.models import Response as QuizResponse
from quiz.progress_chart import progress_chart_png
from quiz.site import settings as site_settings
from quiz.taker import response_reads, responses, rights
from quiz.web import limits, public
from quiz.web.account import link_error

bp = Blueprint("reassess", __name__)

Page = tuple[str, int]


def _earlier(token: str) -> QuizResponse | Page:
    """The response the link names, or the page to show instead."""
    link_days = site_settings.current().text("followup.link_days")
    try:
        response_id, digest = read_token(
            current_app.config, REASSESS, token, reassess_max_age(link_days)
        )
    except LinkExpired as expired:
        if rights.response_for_link(expired.response_id, expired.digest) is None:
            return link_error("gone")
        page = render_template("reassess/start.html", state="expired", link_days=link_days)
        return page, 410
    except LinkError:
        return link_error("invalid")
    return rights.response_for_link(response_id, digest) or link_error("gone")


@bp.get("/wieder/<token>")
@limits.token_misses
def start(token: str) -> Page:
    """Say what a re-assessment is, with one button that starts it."""
    earlier = _earlier(token)
    if isinstance(earlier, tuple):
        return earlier
    return render_template("reassess/start.html", state="start", earlier=earlier, token=token), 200


@bp.get("/r/<token>/vorher-nachher.png")
@limits.token_misses
def progress_chart(token: str) -> BaseResponse:
    """The before-and-after chart of a re-assessment's result (404 for a first quiz)."""
    response = response_reads.find_result(token) or abort(404)
    progress = result_progress.progress_of(response)
    if progress is None or not progress.rows:
        abort(404)
    chart = make_response(progress_chart_png(progress.rows))
    chart.headers["Content-Type"] = "image/png"
    return chart


@bp.post("/wieder/<token>")
@limits.token_misses
@limits.posts(limits.from_config("QUIZ_LIMIT_START"))
def start_post(token: str) -> BaseResponse | Page:
    """Start the re-assessment's draft, linked to the earlier response, and go to step 1."""
    earlier = _earlier(token)
    if isinstance(earlier, tuple):
        return earlier
    draft = responses.start_draft(get_content(), {}, previous=earlier)
    return _to_first_step(draft.draft_token)


# --- from the earlier result page: no proof of the mailbox ---------------------------------------


@bp.get("/r/<token>/wieder")
@limits.token_misses
def from_result(token: str) -> Page:
    """Offer to take the quiz again from a result page: the address is asked for again."""
    earlier = response_reads.find_result(token) or abort(404)
    return render_template("reassess/start.html", state="from_result", earlier=earlier), 200


@bp.post("/r/<token>/wieder")
@limits.token_misses
@limits.posts(limits.from_config("QUIZ_LIMIT_START"))
def from_result_post(token: str) -> BaseResponse:
    """Start a draft linked to this result; its lead step asks for the address and consents as
    on a first quiz, and the link holds only for the earlier address (responses.finish)."""
    earlier = response_reads.find_result(token) or abort(404)
    draft = responses.start_draft(get_content(), {}, previous=earlier, carry_contact=False)
    return _to_first_step(draft.draft_token)


def _to_first_step(draft_token: str) -> BaseResponse:
    started = redirect(url_for("public.step", number=1))
    lifetime = timedelta(days=current_app.config["DRAFT_COOKIE_DAYS"])
    public.set_draft_cookie(started, draft_token, lifetime)
    return started
