"""The site's settings on every page: `site` in the templates, the logo and the brand colour.

The logo is served from this site under a name that carries its hash, and the brand colour as a
tiny stylesheet named by the colour, so both can be cached for a year: a new logo or colour is a
new URL. Pages read the settings through `site` (quiz.site.settings.current: one small query per
request); the error pages get the defaults when the database cannot be read.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, abort, make_response
from werkzeug.wrappers import Response

from quiz.site import settings as site_settings
from quiz.site.schema import DEFAULT_COLOR
from quiz.site.value_checks import SettingError, check_color

bp = Blueprint("site", __name__, url_prefix="/marke")

YEAR = 365 * 24 * 3600
_LOGO_NAME = re.compile(r"^logo-([0-9a-f]{64})\.(png|jpg)$")


def init_app(app: Flask) -> None:
    """Register the routes and `site` for every template (emails and the PDF included)."""
    app.register_blueprint(bp)

    @app.context_processor
    def site_context() -> dict[str, Any]:
        # current(), not current_or_defaults(): a page whose settings cannot be read is the
        # 503 page (quiz.web.errors), which renders with the defaults.
        return {
            "site": site_settings.current(),
            "brand_stylesheet": brand_stylesheet,
        }


def brand_stylesheet(color: str) -> str | None:
    """The file name of the stylesheet for a brand colour other than the default."""
    return None if color in ("", DEFAULT_COLOR) else f"farbe-{color.lstrip('#')}.css"


@bp.get("/<filename>")
def asset(filename: str) -> Response:
    """The logo (by its hash) or the brand colour's stylesheet (by the colour)."""
    if filename.startswith("farbe-") and filename.endswith(".css"):
        return _colors(filename[len("farbe-") : -len(".css")])
    match = _LOGO_NAME.match(filename)
    found = site_settings.logo_bytes(match.group(1)) if match else None
    if found is None:
        abort(404)
    data, content_type = found
    response = make_response(data)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response


def _colors(digits: str) -> Response:
    """`--accent` and a darker `--accent-dark` for hover states, from a checked colour."""
    if not re.fullmatch(r"[0-9a-f]{6}", digits):
        abort(404)
    try:
        color = check_color("brand.color", f"#{digits}")
    except SettingError:
        abort(404)
    dark = "#" + "".join(f"{round(int(color[i : i + 2], 16) * 0.75):02x}" for i in (1, 3, 5))
    response = make_response(f":root {{ --accent: {color}; --accent-dark: {dark}; }}\n")
    response.headers["Content-Type"] = "text/css; charset=utf-8"
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response
