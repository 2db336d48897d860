"""The coach view under /coach/: the blueprint and the map of its pages.

Every page needs a logged-in coach (checked once, before every request of this blueprint). The
views live by job: `login` (form, session, limits on guessing), `dashboard` (figures and
charts), `leads` (list, CSV, one lead, export, deletion); `params` checks the query string. The
settings and quality pages are blueprints of their own that reuse `require_login`. Headers
(no caching, no Referer) come from quiz.web.security, like every other page's.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from quiz.web.coach import dashboard, lead_work, leads, login, params
from quiz.web.coach.login import require_login

bp = Blueprint("coach", __name__, url_prefix="/coach")
bp.before_request(require_login)
bp.context_processor(params.param_problems)

# The pages, one line each; the endpoint is the function's name (url_for("coach.dashboard")).
bp.add_url_rule("/login", view_func=login.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", view_func=login.logout, methods=["POST"])
bp.add_url_rule("/", view_func=dashboard.dashboard)
bp.add_url_rule("/chart/<name>.png", view_func=dashboard.chart)
bp.add_url_rule("/leads", view_func=leads.leads_list)
bp.add_url_rule("/leads.csv", view_func=leads.leads_csv)
bp.add_url_rule("/leads/<lead_id:response_id>", view_func=leads.lead_detail)
bp.add_url_rule("/leads/<lead_id:response_id>/export.json", view_func=leads.lead_export)
bp.add_url_rule(
    "/leads/<lead_id:response_id>/delete", view_func=leads.lead_delete, methods=["POST"]
)
bp.add_url_rule(
    "/leads/<lead_id:response_id>/bearbeitung",
    view_func=lead_work.lead_work_save,
    methods=["POST"],
)


def init_app(app: Flask) -> None:
    """Register the coach view and wire Flask-Login for it."""
    app.url_map.converters["lead_id"] = params.LeadIdConverter
    app.register_blueprint(bp)
    login.init_login(app)
