"""The coach view under /coach/: login, dashboard with charts, leads, CSV export.

Every page needs a logged-in coach (checked once, before every request of this blueprint). The
views stay thin: `quiz.coach.stats` and `quiz.coach.leads` query, `quiz.charts` draws, `quiz.taker.rights` exports
and deletes one taker's data.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    g,
    get_template_attribute,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from werkzeug.wsgi import ClosingIterator
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length

from quiz import charts
from quiz.app_state import get_content
from quiz.coach import accounts as coach_accounts
from quiz.coach import leads, stats
from quiz.domain.analysis import build_analysis
from quiz.domain.scoring import ScoreResult
from quiz.extensions import db, limiter, login_manager
from quiz.models import SCORED_DIMENSIONS, Answer, Consent, OutboxMessage
from quiz.models import Response as QuizResponse
from quiz.web.coach import login as coach_login
from quiz.web.coach import params as coach_params

bp = Blueprint("coach", __name__, url_prefix="/coach")

# Failed logins allowed per client address (per account and per device: see coach_login).
LOGIN_LIMIT_PER_IP = "5 per minute; 20 per hour"
CHART_CACHE_SECONDS = 60
CHART_NAMES = ("funnel", "scores", "bottlenecks", "profile", "timeline")


class CoachUser(UserMixin):
    """The logged-in coach as Flask-Login sees it; the id carries the session nonce."""

    def __init__(self, session_id: str, email: str) -> None:
        self.session_id = session_id
        self.email = email

    def get_id(self) -> str:
        """The value stored in the session cookie."""
        return self.session_id


def init_app(app: Flask) -> None:
    """Register the coach view and wire Flask-Login for it."""
    app.url_map.converters["lead_id"] = coach_params.LeadIdConverter
    app.register_blueprint(bp)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(value: str) -> CoachUser | None:
        coach = coach_accounts.load_by_session_id(value)
        return CoachUser(coach_accounts.session_id(coach), coach.email) if coach else None

    @login_manager.unauthorized_handler
    def unauthorized() -> BaseResponse:
        return redirect(url_for("coach.login", next=request.full_path.rstrip("?")))


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("E-Mail-Adresse", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Passwort", validators=[InputRequired(), Length(max=1024)])


@bp.before_request
def require_login() -> BaseResponse | None:
    """Every coach page but the login form needs a logged-in coach."""
    if request.endpoint == "coach.login":
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    return None


@bp.after_request
def private(response: BaseResponse) -> BaseResponse:
    """Coach pages hold personal data: never cache them in shared caches, never leak the URL."""
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def safe_next(target: str | None) -> str:
    """`next` only when it is a path of the coach view on this site; the dashboard otherwise."""
    fallback = url_for("coach.dashboard")
    if not target or "\\" in target or any(ord(ch) < 32 for ch in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/coach/"):
        return fallback
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return fallback
    if target.startswith("//"):
        return fallback
    return target


def _failed_login() -> bool:
    return bool(g.get("coach_login_failed"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_IP, methods=["POST"], deduct_when=lambda _r: _failed_login())
def login() -> BaseResponse | tuple[str, int]:
    """The login form; a fresh session on success, the same message for every failure.

    Besides the per-address limit above, `coach_login` limits failures per account for unknown
    browsers and per device cookie for browsers that have logged in before.
    """
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        guard = coach_login.LoginGuard.for_request(form.email.data or "")
        guard.check()
        coach = coach_accounts.authenticate(form.email.data or "", form.password.data or "")
        if coach is not None:
            target = safe_next(request.args.get("next"))
            session.clear()  # a fresh session: nothing from before the login survives
            login_user(CoachUser(coach_accounts.session_id(coach), coach.email))
            session.permanent = True
            response = redirect(target)
            guard.remember(response)
            return response
        failed = True
        g.coach_login_failed = True
        guard.failed()
    status = 200 if request.method == "GET" else (401 if failed else 422)
    return render_template("coach/login.html", form=form, failed=failed), status


@bp.post("/logout")
def logout() -> BaseResponse:
    """End this and every other session of the coach."""
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    coach_id = int(current_user.session_id.partition(":")[0])
    coach_accounts.end_sessions(coach_id)
    logout_user()
    session.clear()
    return redirect(url_for("coach.login"))


# --- filters -----------------------------------------------------------------------------------


def current_filters() -> stats.Filters:
    """The valid filters from the query string (see `parsed` for what was left out)."""
    return parsed().filters


def parsed() -> coach_params.Parsed:
    """This request's filters, search and page, checked once per request."""
    if "coach_params" not in g:
        g.coach_params = coach_params.parse()
    return g.coach_params  # type: ignore[no-any-return]


def strict_filters() -> stats.Filters:
    """The filters for a download (CSV, chart): any invalid one is a 400, before the first byte."""
    if any(name != "page" for name in parsed().problems):
        abort(400)
    return parsed().filters


@bp.context_processor
def param_problems() -> dict[str, tuple[str, ...]]:
    """The ignored parameters, for the notice in the coach layout."""
    if "coach_params" not in g:
        return {}
    return {"param_problems": g.coach_params.problems}


def filter_args(filters: stats.Filters) -> dict[str, str]:
    """The query-string form of the filters (for links to charts, pages and the export)."""
    args = {
        "from": filters.start.isoformat() if filters.start else "",
        "to": filters.end.isoformat() if filters.end else "",
        "campaign": filters.campaign or "",
        "version": filters.version or "",
        "demo": "" if filters.demo == "all" else filters.demo,
    }
    return {key: value for key, value in args.items() if value}


# --- dashboard -----------------------------------------------------------------------------


class _TTLCache:
    """A small per-process cache: figures and PNGs for a filter live CHART_CACHE_SECONDS.

    Per worker on purpose: a miss costs one render, and a stale entry is at most a minute old.
    """

    def __init__(self, size: int = 128) -> None:
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit and hit[0] > now:
                return hit[1]
        value = make()
        with self._lock:
            self._items[key] = (now + CHART_CACHE_SECONDS, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_cache = _TTLCache()


def _dashboard(filters: stats.Filters) -> stats.Dashboard:
    content = get_content()
    labels = [page.title for page in content.pages]
    labels.append(get_template_attribute("coach/labels.html", "CONTACT_STEP"))
    dimensions = [d.id for d in content.dimensions]
    key = ("dashboard", db.engine.url.render_as_string(), filters.cache_key())
    return _cache.get_or_make(key, lambda: stats.dashboard(filters, labels, dimensions))  # type: ignore[no-any-return]


@bp.get("/")
def dashboard() -> str:
    """The aggregate view: KPIs, funnel, scores, bottlenecks, profile, timeline, consents, mail."""
    filters = current_filters()
    figures = _dashboard(filters)
    campaigns, versions = stats.filter_choices()
    content = get_content()
    return render_template(
        "coach/dashboard.html",
        figures=figures,
        filters=filters,
        args=filter_args(filters),
        campaigns=campaigns,
        versions=versions,
        names={d.id: d.name for d in content.dimensions},
        no_campaign=stats.NO_CAMPAIGN,
        chart_names=CHART_NAMES,
    )


@bp.get("/chart/<name>.png")
def chart(name: str) -> Response:
    """One dashboard chart for the current filters, cached briefly per worker."""
    if name not in CHART_NAMES:
        abort(404)
    filters = strict_filters()
    key = ("chart", name, db.engine.url.render_as_string(), filters.cache_key())
    png = _cache.get_or_make(key, lambda: _render_chart(name, _dashboard(filters)))
    response = make_response(png)
    response.headers["Content-Type"] = "image/png"
    response.headers["Cache-Control"] = f"private, max-age={CHART_CACHE_SECONDS}"
    return response


def _render_chart(name: str, figures: stats.Dashboard) -> bytes:
    names = {d.id: d.name for d in get_content().dimensions}
    if name == "funnel":
        items = [charts.LabelledValue(step.label, step.count) for step in figures.funnel]
        return charts.hbar_chart_png(items)
    if name == "scores":
        rows = [charts.Distribution(names[d.dimension], d.buckets) for d in figures.dimensions]
        return charts.distribution_chart_png(rows)
    if name == "bottlenecks":
        top = max((d.bottleneck_count for d in figures.dimensions), default=0)
        items = [
            charts.LabelledValue(
                names[d.dimension], d.bottleneck_count, top > 0 and d.bottleneck_count == top
            )
            for d in figures.dimensions
        ]
        return charts.hbar_chart_png(items)
    if name == "profile":
        items = [
            charts.LabelledValue(names[d.dimension], round(d.average or 0, 1))
            for d in figures.dimensions
        ]
        return charts.hbar_chart_png(items, xmax=100, value_format="{:.1f}")
    fmt = "%d.%m." if figures.timeline_unit == "day" else "%d.%m.%y"
    items = [charts.LabelledValue(day.strftime(fmt), count) for day, count in figures.timeline]
    return charts.column_chart_png(items)


# --- leads ---------------------------------------------------------------------------------


@bp.get("/leads")
def leads_list() -> str:
    """The finished responses, searchable, 50 per page."""
    params = parsed()
    filters, search = params.filters, params.search
    result = leads.page_of_leads(filters, search, params.page)
    content = get_content()
    return render_template(
        "coach/leads.html",
        result=result,
        filters=filters,
        args=filter_args(filters),
        search=search,
        dimensions=content.dimensions,
        names={d.id: d.name for d in content.dimensions},
        campaigns=stats.filter_choices()[0],
        versions=stats.filter_choices()[1],
        no_campaign=stats.NO_CAMPAIGN,
    )


@bp.get("/leads.csv")
def leads_csv() -> Response:
    """The filtered leads as CSV for German spreadsheet programs, streamed row by row."""
    filters = strict_filters()
    search = parsed().search
    content = get_content()
    header = list(get_template_attribute("coach/labels.html", "CSV_HEADER"))
    names = {d.id: d.name for d in content.dimensions}
    header[4:4] = [names.get(d, d) for d in SCORED_DIMENSIONS]
    labels = {
        "bottleneck": names,
        "marketing": get_template_attribute("coach/labels.html", "MARKETING"),
        "email_state": get_template_attribute("coach/labels.html", "EMAIL_STATES"),
    }
    # The query runs and its first rows arrive now: a database error is a 503 page, not a file
    # that starts and breaks off. Later errors abort the chunked transfer (see leads.export_rows).
    rows = leads.ExportRows(filters, search)
    body = ClosingIterator(leads.csv_lines(rows, header, labels), rows.close)
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


@bp.get("/leads/<lead_id:response_id>")
def lead_detail(response_id: int) -> str:
    """One taker: their full result, every answer, consents and emails."""
    response = _taker(response_id)
    content = get_content()
    stored = {a.question_id: a for a in db.session.scalars(select_answers(response_id))}
    answers = []
    for question in content.questions:
        answer = stored.get(question.id)
        label = None
        if answer is not None:
            label = next(
                (c.label for c in content.choices(question.id) if c.id == answer.option_id),
                answer.option_id,
            )
        answers.append({"question": question, "answer": answer, "label": label})
    analysis = response.analysis
    if not analysis and len(stored) == len(content.questions) and response.bottleneck:
        # Demo rows keep no analysis text: rebuild it from the stored answers and scores.
        scores = response.scores()
        order = {d.id: i for i, d in enumerate(content.dimensions)}
        ranking = tuple(sorted(scores, key=lambda d: (scores[d], order.get(d, 0))))
        result = ScoreResult(scores=scores, bands=response.bands or {}, ranking=ranking)
        chosen = {qid: a.option_id for qid, a in stored.items()}
        analysis = [item.to_dict() for item in build_analysis(content, chosen, result)]
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
    )


def select_answers(response_id: int) -> Any:
    """The stored answers of one response."""
    return db.select(Answer).where(Answer.response_id == response_id)


@bp.get("/leads/<lead_id:response_id>/export.json")
def lead_export(response_id: int) -> Response:
    """Everything stored about one taker, as a JSON download (their right of access)."""
    from quiz.taker import rights

    response = _taker(response_id)
    data = rights.export_data(get_content(), response)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    download = make_response(body)
    download.headers["Content-Type"] = "application/json; charset=utf-8"
    download.headers["Content-Disposition"] = (
        f'attachment; filename="teilnehmer-{response_id}.json"'
    )
    return download


@bp.post("/leads/<lead_id:response_id>/delete")
def lead_delete(response_id: int) -> BaseResponse:
    """Delete one taker's data for good (answers, consents, emails; rollups follow)."""
    from quiz.taker import rights

    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    _taker(response_id)
    rights.delete_data(response_id)
    _cache.clear()
    return redirect(url_for("coach.leads_list", deleted=1))


def clear_cache() -> None:
    """Forget cached figures and charts (tests, and after deletions)."""
    _cache.clear()
