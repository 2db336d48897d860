"""The coach's A/B tests under /coach/experimente (issue 25): define, start, pause, end, read out.

Thin: quiz.experiments.lifecycle writes, quiz.experiments.readout reads (the counters and
quiz.domain.ab_stats); every text is in the templates. Login, caching headers and the layout
are the coach view's, as for the settings and quality pages.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from quiz.domain import ab_stats
from quiz.experiments import lifecycle, readout
from quiz.models import ELEMENTS
from quiz.web.coach.login import require_login
from quiz.web.coach.params import MAX_ID
from quiz.web.coach.site_form import changed_by

bp = Blueprint("coach_experiments", __name__, url_prefix="/coach/experimente")
bp.before_request(require_login)

VARIANT_ROWS = lifecycle.MAX_VARIANTS
ACTIONS = ("started", "paused", "resumed", "ended")


def init_app(app: Flask) -> None:
    """Register the pages (after the coach view, whose login they use)."""
    app.register_blueprint(bp)


def _list_page(entered: dict[str, str] | None = None, error: str | None = None) -> str:
    return render_template(
        "coach/experiments.html",
        experiments=readout.summaries(),
        elements=ELEMENTS,
        metrics=ab_stats.METRICS,
        rows=VARIANT_ROWS,
        entered=entered or {"threshold": "0,5"},
        error=error,
    )


@bp.get("/")
def experiments() -> str:
    """Every experiment, and the form for a new one."""
    return _list_page()


@bp.post("/")
def create() -> BaseResponse | tuple[str, int]:
    """Store a new experiment (not yet running); the form again, values kept, when it cannot."""
    form = request.form
    entered = {key: form.get(key, "")[:2100] for key in form if key != "csrf_token"}
    variants = [
        lifecycle.VariantInput(
            name=form.get(f"name_{i}", ""),
            text=form.get(f"text_{i}", ""),
            label=form.get(f"label_{i}", ""),
        )
        for i in range(VARIANT_ROWS)
    ]
    try:
        threshold = float(form.get("threshold", "0.5").replace(",", ".").strip() or "0.5")
    except ValueError:
        return _list_page(entered, "Die Schwelle muss eine Zahl sein, etwa 0,5."), 422
    try:
        experiment_id = lifecycle.create(
            form.get("title", ""),
            form.get("element", ""),
            form.get("metric", ""),
            variants,
            changed_by(),
            threshold_pp=threshold,
        )
    except lifecycle.ExperimentError as problem:
        return _list_page(entered, str(problem)), 422
    return redirect(url_for(".detail", experiment_id=experiment_id))


def _id_or_404(experiment_id: int) -> int:
    if not 1 <= experiment_id <= MAX_ID:
        abort(404)
    return experiment_id


def _detail_page(experiment_id: int, error: str | None = None) -> str:
    # Only the metric the test is decided by gets its posterior figures (the rest: rates).
    result = readout.readout(_id_or_404(experiment_id), metrics=()) or abort(404)
    return render_template(
        "coach/experiment.html",
        r=result,
        metrics=ab_stats.METRICS,
        draws=ab_stats.DRAWS,
        seed=ab_stats.SEED,
        min_visits=ab_stats.MIN_VISITS,
        srm_alpha=ab_stats.SRM_ALPHA,
        error=error,
    )


@bp.get("/<row_id:experiment_id>")
def detail(experiment_id: int) -> str:
    """One experiment: its variants, counts, the readout and the log."""
    return _detail_page(experiment_id)


@bp.post("/<row_id:experiment_id>/status")
def change(experiment_id: int) -> BaseResponse | tuple[str, int]:
    """Start, pause, resume or end it."""
    action = request.form.get("action", "")
    try:
        lifecycle.change(_id_or_404(experiment_id), action, changed_by())
    except lifecycle.ExperimentError as problem:
        return _detail_page(experiment_id, str(problem)), 422
    return redirect(url_for(".detail", experiment_id=experiment_id))


@bp.post("/<row_id:experiment_id>/gewinner")
def winner(experiment_id: int) -> BaseResponse | tuple[str, int]:
    """Record the chosen winner of an ended experiment."""
    raw = request.form.get("position", "")
    position = int(raw) if raw.isascii() and raw.isdigit() and len(raw) == 1 else -1
    try:
        lifecycle.choose_winner(_id_or_404(experiment_id), position, changed_by())
    except lifecycle.ExperimentError as problem:
        return _detail_page(experiment_id, str(problem)), 422
    return redirect(url_for(".detail", experiment_id=experiment_id))
