"""The coach's status, notes and tags on a lead's page: one form, saved through the writer."""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from quiz.taker import lead_records
from quiz.web.coach.leads import detail_page


def lead_work_save(response_id: int) -> BaseResponse | tuple[str, int]:
    """Save what the coach typed; a refused value shows the page again with everything typed."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    typed = {
        "status": request.form.get("status", ""),
        "notes": request.form.get("notes", ""),
        "tags": request.form.get("tags", ""),
    }
    try:
        saved = lead_records.update(
            response_id,
            status=typed["status"],
            notes=lead_records.clean_notes(typed["notes"]),
            tags=lead_records.parse_tags(typed["tags"]),
        )
    except lead_records.LeadInputError as refused:
        return detail_page(response_id, typed=typed, error=refused.code), 422
    if not saved:
        abort(404)
    return redirect(url_for("coach.lead_detail", response_id=response_id, saved=1) + "#h-work")
