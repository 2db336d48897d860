"""The coach's leads: the list, the CSV export, one lead, their data export and deletion.

`quiz.coach.leads` queries, `quiz.taker.rights` exports and deletes one taker's data; the rows of
demo data, which keep no analysis text, get theirs from the domain's scoring and analysis.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import (
    Response,
    abort,
    get_template_attribute,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from werkzeug.wsgi import ClosingIterator

from quiz import caches, result_progress
from quiz.app_state import get_content
from quiz.coach import leads as lead_queries
from quiz.coach import stats
from quiz.domain.analysis import build_analysis
from quiz.domain.content import Content
from quiz.domain.progress import compare
from quiz.domain.scoring import AnswerError, score_answers
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Answer, Consent, OutboxMessage
from quiz.models import Response as QuizResponse
from quiz.taker import clicks, lead_records, reassessments, rights
from quiz.web.coach import params


def leads_list() -> str:
    """The finished responses, searchable, 50 per page."""
    parsed = params.parsed()
    filters, search = parsed.filters, parsed.search
    result = lead_queries.page_of_leads(filters, search, parsed.page, parsed.leads)
    content = get_content()
    campaigns, versions = stats.filter_choices()
    return render_template(
        "coach/leads.html",
        result=result,
        filters=filters,
        args={**params.filter_args(filters), **params.lead_args(parsed.leads)},
        search=search,
        leads=parsed.leads,
        tags=lead_records.known_tags(),
        dimensions=content.dimensions,
        names={d.id: d.name for d in content.dimensions},
        campaigns=campaigns,
        versions=versions,
        no_campaign=stats.NO_CAMPAIGN,
    )


def leads_csv() -> Response:
    """The filtered leads as CSV for German spreadsheet programs, streamed row by row."""
    filters = params.strict_filters()
    search = params.parsed().search
    content = get_content()
    header = list(get_template_attribute("coach/labels.html", "CSV_HEADER"))
    names = {d.id: d.name for d in content.dimensions}
    header[4:4] = [names.get(d, d) for d in SCORED_DIMENSIONS]
    labels = {
        "bottleneck": names,
        "marketing": get_template_attribute("coach/labels.html", "MARKETING"),
        "email_state": get_template_attribute("coach/labels.html", "EMAIL_STATES"),
        "lead_status": get_template_attribute("coach/labels.html", "LEAD_STATUSES"),
    }
    # The query runs and its first rows arrive now: a database error is a 503 page, not a file
    # that starts and breaks off. Later errors abort the chunked transfer (see leads.export_rows).
    rows = lead_queries.ExportRows(filters, search, params.parsed().leads)
    body = ClosingIterator(
        map(str.encode, lead_queries.csv_lines(rows, header, labels)), rows.close
    )
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    stamp = date.today().isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    return response


def _taker(response_id: int) -> QuizResponse:
    response = db.session.get(QuizResponse, response_id)
    if response is None or response.status != "finished":
        abort(404)
    return response


def lead_detail(response_id: int) -> str:
    """One taker: their full result, every answer, consents and emails, the coach's notes."""
    return detail_page(response_id)


def detail_page(
    response_id: int, typed: dict[str, str] | None = None, error: str | None = None
) -> str:
    """The lead's page; `typed` and `error` when the coach's status form was refused."""
    response = _taker(response_id)
    content = get_content()
    stored = {a.question_id: a for a in db.session.scalars(select_answers(response_id))}
    answers = []
    # The core questions, then the extra page's the taker answered (issue 23).
    asked = [*content.questions, *(q for q in content.extra_questions if q.id in stored)]
    for question in asked:
        answer = stored.get(question.id)
        label = None
        if answer is not None:
            label = next(
                (c.label for c in content.choices(question.id) if c.id == answer.option_id),
                answer.option_id,
            )
        answers.append({"question": question, "answer": answer, "label": label})
    analysis = response.analysis
    complete = all(question.id in stored for question in content.questions)
    if not analysis and complete and response.bottleneck:
        # Demo rows keep no analysis text: rebuild it from the stored answers.
        analysis = _analysis_of(content, {qid: a.option_id for qid, a in stored.items()})
    consents = db.session.scalars(
        db.select(Consent).where(Consent.response_id == response_id).order_by(Consent.id)
    ).all()
    mails = db.session.scalars(
        db.select(OutboxMessage)
        .where(OutboxMessage.response_id == response_id)
        .order_by(OutboxMessage.id)
    ).all()
    return render_template(
        "coach/lead.html",
        response=response,
        dimensions=content.dimensions,
        scores=response.scores(),
        names={d.id: d.name for d in content.dimensions},
        analysis=analysis or [],
        answers=answers,
        consents=consents,
        mails=mails,
        form=FlaskForm(),
        work=lead_records.work_on(response_id),
        cta_clicks=clicks.of_response(response_id),
        # The chain of re-assessments (issue 24): the one it follows, those that follow it.
        earlier=result_progress.earlier_of(response),
        reassessed=[
            (later, compare(result_progress.snapshot(response), result_progress.snapshot(later)))
            for later in reassessments.later_of(response_id)
        ],
        typed=typed,
        error=error,
    )


def _analysis_of(content: Content, chosen: dict[str, str]) -> list[dict[str, Any]]:
    """The analysis the domain makes of these answers (none when today's content cannot score them)."""
    try:
        result = score_answers(content, chosen)
    except AnswerError:
        return []
    return [item.to_dict() for item in build_analysis(content, chosen, result)]


def select_answers(response_id: int) -> Any:
    """The stored answers of one response."""
    return db.select(Answer).where(Answer.response_id == response_id)


def lead_export(response_id: int) -> Response:
    """Everything stored about one taker, as a JSON download (their right of access)."""
    response = _taker(response_id)
    data = rights.export_data(get_content(), response)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    download = make_response(body)
    download.headers["Content-Type"] = "application/json; charset=utf-8"
    download.headers["Content-Disposition"] = (
        f'attachment; filename="teilnehmer-{response_id}.json"'
    )
    return download


def lead_delete(response_id: int) -> BaseResponse:
    """Delete one taker's data for good (answers, consents, emails; rollups follow)."""
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    _taker(response_id)
    rights.delete_data(response_id)
    caches.current().coach_charts.clear()
    return redirect(url_for("coach.leads_list", deleted=1))
