"""The public quiz: landing page, one step per page of questions, the lead step, the result.

Views stay thin: the content builds the forms, `quiz.taker.responses` stores and finishes, and the result
page renders only what was stored. POST/redirect/GET throughout.

About 460 lines: every view of the taker's public path lives here so its hot path (pre-rendered
pages, one query per request) can be read in one place; where a page of questions stands and
how it renders lives in quiz.web.quiz_steps, the result page's arranging in
quiz.domain.result_layout, the chart in quiz.result_chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from quiz.app_state import get_consent_texts, get_content
from quiz.domain import traffic
from quiz.domain.content import Content
from quiz.experiments import assign
from quiz.extensions import db
from quiz.models import Response as QuizResponse
from quiz.models import utcnow
from quiz.site import settings as site_settings
from quiz.taker import response_reads, responses, visits
from quiz.web import account, limits, prerendered
from quiz.web.forms import CarriedLeadForm, LeadForm, build_step_form
from quiz.web.quiz_steps import (
    QuestionProgress,
    StepView,
    cached_step,
    core_progress,
    extra_due,
    invalid_step,
    shown_steps,
    total_steps,
)

bp = Blueprint("public", __name__)

DRAFT_COOKIE = "quiz_draft"
# How long a finished draft's cookie still leads back to its result: enough for a reload of the
# last step, the browser's back button or a double click; short enough that the next person at
# a shared computer does not find the result (and its data link) behind the quiz pages.
FINISHED_DRAFT_GRACE = timedelta(minutes=10)
# Rough reading-and-deciding times, for the "about N minutes" promise on the landing page.
SECONDS_PER_STATEMENT = 8
SECONDS_PER_SCENARIO = 15
SECONDS_FOR_LEAD_STEP = 30


def estimated_minutes(content: Content) -> int:
    """How long the quiz takes, computed from its questions."""
    seconds = SECONDS_FOR_LEAD_STEP + sum(
        SECONDS_PER_SCENARIO if q.type == "choice" else SECONDS_PER_STATEMENT
        for q in content.questions
    )
    return max(1, math.ceil(seconds / 60))


def current_draft() -> response_reads.DraftState | None:
    """The response this browser's draft cookie points at."""
    return response_reads.find_by_draft_token(request.cookies.get(DRAFT_COOKIE))


def next_open_step(draft: response_reads.DraftState, content: Content) -> int:
    """The first step not yet completed (where a returning taker resumes)."""
    return min(draft.steps_completed + 1, total_steps(content))


@bp.get("/")
def landing() -> str:
    """What the quiz is, what the taker gets, how long it takes; captures UTM and referrer,
    counts the visit (no cookie, nothing stored of the visitor) and shows the A/B tests' texts."""
    content = get_content()
    draft = current_draft()
    resume_step = None
    if draft is not None and draft.status == "draft" and draft.steps_completed > 0:
        resume_step = next_open_step(draft, content)
    args = request.args
    tracking = {field: args[field][:100] for field in responses.TRACKING_FIELDS if args.get(field)}
    referrer = request.referrer
    if referrer:
        tracking["referrer"] = referrer[:500]
    experiments = assign.active()
    if draft is not None and draft.status == "draft":
        # A returning taker: their draft's variants, and no second visit.
        assigned = assign.of_response(draft.id) if experiments else {}
    else:
        assigned = assign.draw(experiments)
        request_headers = request.headers
        headers = {name: request_headers.get(name, "") for name in traffic.HEADERS}
        if traffic.counts_as_visit(request.method, headers):
            _count_visit(content, tracking, assigned)
    # The page depends on the settings, the content, where a taker resumes and the variants
    # shown: rendered once per worker for each, then only the request's own fields go in.
    variants = assign.encode(assigned)
    key = (
        "landing",
        request.script_root,
        site_settings.current().version,
        content.sha256,
        resume_step,
        variants,
    )
    return prerendered.landing_page(
        key,
        lambda csrf_value, tracking_slot: render_template(
            "quiz/landing.html",
            content=content,
            minutes=estimated_minutes(content),
            resume_step=resume_step,
            variants=variants,
            shown=assign.texts(experiments, assigned),
            csrf_value=csrf_value,
            tracking_slot=tracking_slot,
        ),
        tracking,
    )


def _count_visit(
    content: Content, tracking: Mapping[str, str], assigned: Mapping[int, int]
) -> None:
    """Count this view by day and source, as the start would record them."""
    source = visits.visit_source(tracking, responses.own_host())
    visits.record((utcnow().date(), *source, content.version), assigned.items())


@bp.post("/quiz/start")
@limits.posts(limits.from_config("QUIZ_LIMIT_START"))
def start() -> BaseResponse:
    """Create a draft (or resume the open one) and go to its first open step."""
    content = get_content()
    draft = current_draft()
    if draft is not None and draft.status == "draft":
        return redirect(url_for(".step", number=next_open_step(draft, content)))
    tracking = {
        field: request.form.get(field) for field in (*responses.TRACKING_FIELDS, "referrer")
    }
    # The variants the landing page showed (drawn afresh where the field does not name one).
    assigned = assign.draw(assign.active(), assign.decode(request.form.get("variants")))
    new_draft = responses.start_draft(content, tracking, assigned)
    redirect_response = redirect(url_for(".step", number=1))
    set_draft_cookie(
        redirect_response,
        new_draft.draft_token,
        timedelta(days=current_app.config["DRAFT_COOKIE_DAYS"]),
    )
    return redirect_response


def set_draft_cookie(response: BaseResponse, token: str, lifetime: timedelta) -> None:
    """Keep the draft's token in this browser (also a re-assessment's, quiz.web.reassess)."""
    response.set_cookie(
        DRAFT_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


def _finished_draft(draft: response_reads.DraftState, result_token: str) -> BaseResponse:
    """Where a finished draft's cookie leads: its result shortly after the finish, else the start.

    The browser should have dropped the cookie by then (see `_lead_step`); this also ends the
    30-day cookies of responses finished before that, and any browser that keeps cookies longer.
    """
    finished_at = db.session.scalar(
        db.select(QuizResponse.finished_at).where(QuizResponse.id == draft.id)
    )
    if finished_at is not None and utcnow() - finished_at <= FINISHED_DRAFT_GRACE:
        return redirect(url_for(".result", token=result_token))
    gone = redirect(url_for(".landing"))
    gone.delete_cookie(
        DRAFT_COOKIE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return gone


def _away_from_quiz(draft: response_reads.DraftState | None) -> BaseResponse | None:
    """Where a quiz page sends a browser without a draft, or with a finished one (None: stay)."""
    if draft is None:
        return redirect(url_for(".landing"))
    if draft.status == "finished" and draft.result_token:
        return _finished_draft(draft, draft.result_token)
    return None


@bp.route("/quiz/<int:number>", methods=["GET", "POST"])
@limits.posts(limits.from_config("QUIZ_LIMIT_STEP"))
def step(number: int) -> BaseResponse | tuple[str, int] | str:
    """One page of questions, or the lead step after the last page."""
    content = get_content()
    draft, draft_answers = response_reads.find_draft_with_answers(request.cookies.get(DRAFT_COOKIE))
    if (elsewhere := _away_from_quiz(draft)) is not None:
        return elsewhere
    assert draft is not None  # _away_from_quiz sends a missing draft to the landing page
    if number < 1 or number > total_steps(content):
        abort(404)
    if number > draft.steps_completed + 1:
        return redirect(url_for(".step", number=next_open_step(draft, content)))
    due = extra_due(content, draft_answers)
    if number == total_steps(content):
        return _lead_step(content, draft, number, draft_answers, due)

    page = content.pages[number - 1]
    view = StepView(
        page=page,
        number=number,
        total=shown_steps(content, due),
        endpoint="public.step",
        url_values=(("number", number),),
        numbers=content.question_number,
        progress=core_progress(content, number, len(due)),
    )
    if request.method != "POST":  # GET, and HEAD (Flask's automatic one) as GET
        return cached_step(content, view, draft_answers)
    form = build_step_form(content, page)
    if request.form.get("action") == "back":
        responses.save_step(content, draft.id, page, number, form.answers(), completed=False)
        return redirect(url_for(".step", number=max(1, number - 1)))
    if form.validate_on_submit():
        due = responses.save_step(content, draft.id, page, number, form.answers(), completed=True)
        if due and number == len(content.pages):
            return redirect(url_for(".extra"))
        return redirect(url_for(".step", number=number + 1))
    # Keep what was answered (valid choices only), so the page can truthfully say so and a
    # taker who leaves now finds it again; show it with the first error of each question.
    responses.save_step(content, draft.id, page, number, form.answers(), completed=False)
    return invalid_step(content, view, form)


@bp.route("/quiz/zusatz", methods=["GET", "POST"])
@limits.posts(limits.from_config("QUIZ_LIMIT_STEP"))
def extra() -> BaseResponse | tuple[str, int] | str:
    """The extra page: a few more questions of the dimensions that are close, after the last
    core page and before the lead step, only when `flow.extra_page` says one is due."""
    content = get_content()
    draft, draft_answers = response_reads.find_draft_with_answers(request.cookies.get(DRAFT_COOKIE))
    if (elsewhere := _away_from_quiz(draft)) is not None:
        return elsewhere
    assert draft is not None  # _away_from_quiz sends a missing draft to the landing page
    pages = len(content.pages)
    missing = next((q for q in content.questions if q.id not in draft_answers), None)
    if draft.steps_completed < pages or missing is not None:
        number = next_open_step(draft, content)
        if missing is not None:
            number = min(number, content.pages.index(content.page_of_question[missing.id]) + 1)
        return redirect(url_for(".step", number=number))
    due = extra_due(content, draft_answers)
    if not due:
        return redirect(url_for(".step", number=total_steps(content)))
    page = responses.extra_page_of(content, due)
    view = StepView(
        page=page,
        number=pages + 1,
        total=shown_steps(content, due),
        endpoint="public.extra",
        url_values=(),
        # Numbered on from the core questions, in the order asked.
        numbers={q: len(content.questions) + i for i, q in enumerate(due, 1)},
        progress=QuestionProgress(
            before=len(content.questions), total=len(content.questions) + len(due)
        ),
    )
    if request.method != "POST":  # GET, and HEAD (Flask's automatic one) as GET
        return cached_step(content, view, draft_answers)
    form = build_step_form(content, page)
    if request.form.get("action") == "back":
        responses.save_step(content, draft.id, page, None, form.answers(), completed=False)
        return redirect(url_for(".step", number=pages))
    if form.validate_on_submit():
        responses.save_step(content, draft.id, page, None, form.answers(), completed=True)
        return redirect(url_for(".step", number=total_steps(content)))
    responses.save_step(content, draft.id, page, None, form.answers(), completed=False)
    return invalid_step(content, view, form)


def _lead_step(
    content: Content,
    draft: response_reads.DraftState,
    number: int,
    answers: Mapping[str, str],
    due: tuple[str, ...],
) -> BaseResponse | tuple[str, int]:
    if due and any(question_id not in answers for question_id in due):
        return redirect(url_for(".extra"))  # the extra page comes first
    carried = response_reads.carried_address(draft.id)
    require_email = current_app.config["QUIZ_REQUIRE_EMAIL"]
    form = CarriedLeadForm() if carried else LeadForm(require_email=require_email)
    status = 200
    if request.method == "POST":
        if request.form.get("action") == "back":
            return redirect(url_for(".extra") if due else url_for(".step", number=number - 1))
        if form.validate_on_submit():
            if form.is_bot:
                # Quietly: a bot learns nothing from the answer, and nothing is stored.
                return redirect(url_for(".landing"))
            # A re-assessment from the invitation's link: the finish takes the address and the
            # consents from the earlier response.
            lead = form.lead()
            try:
                token = responses.finish(content, draft.id, lead, get_consent_texts())
            except responses.IncompleteAnswers as missing:
                page = content.page_of_question.get(missing.question_id)
                if page is None:  # an extra question: the page changed in another tab
                    return redirect(url_for(".extra"))
                return redirect(url_for(".step", number=content.pages.index(page) + 1))
            account.offer_data_link_once(draft.id, token)
            finished = redirect(url_for(".result", token=token))
            # The result lives at its own link (and in the summary email); the draft cookie is
            # only kept for a reload or the back button, not for 30 days on a shared computer.
            set_draft_cookie(finished, request.cookies.get(DRAFT_COOKIE, ""), FINISHED_DRAFT_GRACE)
            return finished
        status = 422
    return (
        render_template(
            "quiz/lead_reassess.html" if carried else "quiz/lead.html",
            carried=carried,
            content=content,
            form=form,
            action=url_for(".step", number=number),
            number=shown_steps(content, due),
            total=shown_steps(content, due),
            progress=core_progress(content, number, len(due)),
            consent_texts=get_consent_texts(),
            require_email=require_email,
        ),
        status,
    )
