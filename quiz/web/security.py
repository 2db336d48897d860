"""Security hardening applied to the whole app from the outside.

Response headers (Content-Security-Policy, frame ancestors, Referrer-Policy, X-Robots-Tag, HSTS,
nosniff), Cache-Control of personal pages: every response header the site adds, set in one place
(`response_headers`); views set only what describes their own body (type, download name, the
lifetime of a chart). Also trusted proxy headers, the production start-up check, a check that
rejects NUL bytes and invalid UTF-8 before any view sees them, and a log
filter that keeps email addresses and secret links out of the logs.
"""

from __future__ import annotations

import functools
import logging
import re
from urllib.parse import parse_qsl

from flask import Flask, current_app, has_request_context, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from quiz import deploy
from quiz.app_state import StartupError
from quiz.site import settings as site_settings

log = logging.getLogger(__name__)

# Pages reached through a secret link (and the coach's pages): their URLs never go in a Referer.
TOKEN_PATH_PREFIXES = ("/r/", "/bestaetigen/", "/abmelden/", "/daten/", "/weiter/", "/wieder/")
TOKEN_BLUEPRINTS = ("account",)
COACH_PREFIX = "/coach"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# Every response of a route not named here may show personal data (a draft's answers, a result,
# the data pages, the coach's pages): no cache keeps it, and a deletion holds at once. A new
# route is personal until it is added here (tests/test_security_cache.py checks every route).
PUBLIC_ENDPOINTS = frozenset(
    {
        "public.landing",
        "legal.impressum",
        "legal.privacy",
        "legal.robots",
        "legal.sitemap",
        "health.healthz",
        "health.readyz",
        "static",
        "site.asset",
        "share.favicon",
        "share.image",
    }
)
NO_STORE = "private, no-store"


class InvalidInput(HTTPException):
    """A request carried NUL bytes or bytes that are not UTF-8."""

    code = 400
    description = "invalid characters in the request"


def init_app(app: Flask) -> None:
    """Check the deployment, then wire headers, proxies, input checks and log redaction."""
    check_production(app)
    if app.config["QUIZ_TRUSTED_PROXIES"] > 0:
        hops = app.config["QUIZ_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's way to add middleware
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    app.after_request(response_headers)
    app.context_processor(robots_context)
    # First of all before_request functions: CSRF and the views must never see bad bytes.
    app.before_request_funcs.setdefault(None, []).insert(0, reject_invalid_input)
    app.register_error_handler(InvalidInput, _invalid_input_page)
    install_log_redaction()


def check_production(app: Flask) -> None:
    """In production, refuse to start on a fatal problem and log the others."""
    if app.config.get("QUIZ_ENV") != "production":
        return
    found = deploy.problems(app.config, app.debug)
    fatal = [problem for problem in found if problem.fatal]
    if fatal:
        lines = "\n".join(
            f"  {'unsafe' if problem.fatal else 'warning'}: {problem}" for problem in found
        )
        raise StartupError(
            "Refusing to start in production with unsafe settings (the same list as "
            f"flask --app quiz check-deploy):\n{lines}"
        )
    for problem in found:
        log.warning("unsafe setting: %s", problem)


# --- headers ------------------------------------------------------------------------------------


def content_security_policy(frame_ancestors: str) -> str:
    """The policy: our own scripts, styles and images only, no plugins, no foreign forms."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


@functools.lru_cache(maxsize=16)
def policies(frame_ancestors: str) -> dict[str, dict[str, str]]:
    """The header sets for public and coach pages, for the frame ancestors of the settings."""
    public = {"Content-Security-Policy": content_security_policy(frame_ancestors)}
    frame_option = {"'self'": "SAMEORIGIN", "'none'": "DENY"}.get(frame_ancestors)
    if frame_option:
        public["X-Frame-Options"] = frame_option
    coach = {
        "Content-Security-Policy": content_security_policy("'none'"),
        "X-Frame-Options": "DENY",
    }
    return {"public": public, "coach": coach}


def _frame_ancestors(response: BaseResponse) -> str:
    """Who may frame this response: the settings' sites for pages, our own for everything else.

    Only a document can be framed, so only HTML responses read the setting (a static file or an
    image costs no query); while the database cannot be read, only this site may frame a page.
    """
    if response.mimetype != "text/html":
        return "'self'"
    return site_settings.current_or_defaults().text("embed.frame_ancestors") or "'self'"


def _is_token_page() -> bool:
    return request.path.startswith(TOKEN_PATH_PREFIXES) or request.blueprint in TOKEN_BLUEPRINTS


def _area() -> str:
    """ "coach" for the coach's pages, "account" for the secret-link pages, else "public"."""
    if request.path == COACH_PREFIX or request.path.startswith(COACH_PREFIX + "/"):
        return "coach"
    return "account" if _is_token_page() else "public"


def robots_context() -> dict[str, bool]:
    """`robots_noindex` for the page's `<meta name="robots">`: the same pages as X-Robots-Tag."""
    return {"robots_noindex": has_request_context() and _area() != "public"}


def response_headers(response: BaseResponse) -> BaseResponse:
    """Every header the site adds to a response: security policy, referrer, caching, HSTS.

    Coach pages and pages reached through a secret link never name their URL in a Referer nor
    appear in a search engine; no response of theirs, nor of any other route that is not public,
    is kept in any cache.
    """
    area = _area()
    headers = policies("'none'" if area == "coach" else _frame_ancestors(response))
    for name, value in headers["coach" if area == "coach" else "public"].items():
        response.headers[name] = value
    response.headers["X-Content-Type-Options"] = "nosniff"
    if area == "public":
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    else:
        response.headers["Referrer-Policy"] = "no-referrer"
        # Results, data links, confirmations and the coach's pages stay out of search engines
        # (the PDF and the chart too, which have no <meta> of their own).
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
    if area != "public" or (
        request.endpoint is not None and request.endpoint not in PUBLIC_ENDPOINTS
    ):
        response.headers["Cache-Control"] = NO_STORE
    hsts = current_app.config["QUIZ_HSTS_SECONDS"]
    if hsts > 0 and (request.is_secure or current_app.config.get("QUIZ_ENV") == "production"):
        response.headers["Strict-Transport-Security"] = f"max-age={hsts}"
    return response


# --- input --------------------------------------------------------------------------------------


def _clean(text: str) -> bool:
    # U+FFFD is what a decoder leaves for bytes that were not UTF-8.
    return "\x00" not in text and "\ufffd" not in text


def _strict_pairs(raw: bytes) -> list[tuple[str, str]]:
    """Decode an urlencoded string strictly; UnicodeDecodeError on bytes that are not UTF-8."""
    return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")


def reject_invalid_input() -> None:
    """Refuse NUL bytes and invalid UTF-8 in the URL, the query, the form and the cookies.

    Werkzeug would quietly keep `%FF` as text and drop a whole form with a raw invalid byte, and
    PostgreSQL cannot store NUL at all: a clear 400 page is better than either.
    """
    try:
        pairs = _strict_pairs(request.query_string)
        if request.mimetype == FORM_TYPES[0]:
            pairs += _strict_pairs(request.get_data(cache=True))
        # Werkzeug reads cookie bytes as Latin-1, so a bad byte would pass as some letter. The
        # WSGI environ holds the header as Latin-1 text of the raw bytes: check those as UTF-8.
        # Browsers keep cookies as UTF-8 text, so only a crafted request is refused here.
        request.environ.get("HTTP_COOKIE", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise InvalidInput() from None
    if request.mimetype == FORM_TYPES[1]:
        pairs += list(request.form.items(multi=True))
    texts = [text for pair in pairs for text in pair]
    texts += [str(value) for value in (request.view_args or {}).values()]
    texts += list(request.cookies.values())
    texts.append(request.path)
    if not all(_clean(text) for text in texts):
        raise InvalidInput()


def _invalid_input_page(error: InvalidInput) -> tuple[str, int]:
    return render_template("errors/error.html", code=400, reason="invalid_input"), 400


# --- logs ---------------------------------------------------------------------------------------

# Addresses and secret links also reach the logs percent-encoded: a search form sends
# `q=kunde%40example.org`, a tracking link may be encoded twice (`%2540`), and a Referer quotes
# whole URLs. "@", "." and "/" count in every one of those spellings, in either case of hex.
#
# An address is found from its "@" outwards (the domain forwards, the local part backwards on
# the reversed text), with possessive quantifiers, so a long line costs linear time: trying a
# pattern that starts with the local part at every position of a 20,000-character traceback
# would be quadratic.
_ENCODED = r"%(?:25)*+"  # "%", or "%25" once or more for an encoding of the encoding
_AT = re.compile(rf"@|{_ENCODED}40")
_LABEL = rf"(?:[\w-]|{_ENCODED}(?!2[eE]|40)[0-9A-Fa-f]{{2}})++"
_DOMAIN = re.compile(rf"{_LABEL}(?:(?:\.|{_ENCODED}2[eE]){_LABEL})+")
# The local part read backwards: "%C3" reads "3C%", "%25C3" reads "3C52%"; it stops at another "@".
# Every character an address's local part may carry raw (RFC 5322 atext: o'brien, a!b, {x}, ...)
# but those that also separate a URL's parts ("/", "?", "&", "=", "%"), so `q=` stays readable.
_LOCAL_REVERSED = re.compile(r"(?:(?!04(?:52)*+%)(?:[0-9A-Fa-f]{2}(?:52)*+%|[\w.+!#$'*^`{|}~-]))++")
_SLASH = rf"(?:/|{_ENCODED}2[fF])"
_TOKEN_PATH = re.compile(
    rf"({_SLASH}(?:r|bestaetigen|abmelden|daten|weiter|wieder){_SLASH})[^/%&\s?\"']+"
)


def _redact_addresses(text: str) -> str:
    pieces: list[str] = []
    done = 0  # text[:done] is in pieces already
    reversed_text = ""
    for at in _AT.finditer(text):
        if at.start() < done:
            continue
        domain = _DOMAIN.match(text, at.end())
        if domain is None:
            continue
        reversed_text = reversed_text or text[::-1]
        local = _LOCAL_REVERSED.match(reversed_text, len(text) - at.start())
        if local is None:
            continue
        start = max(len(text) - local.end(), done)
        pieces += [text[done:start], "[E-Mail]"]
        done = domain.end()
    return "".join(pieces) + text[done:] if pieces else text


class RedactingFilter(logging.Filter):
    """Replace email addresses and secret link tokens in log records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the formatted message in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            # Tracebacks quote values too; format them here so the handler uses the redacted text.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def redact(text: str) -> str:
    """The text with email addresses and secret link tokens replaced."""
    return _TOKEN_PATH.sub(r"\1…", _redact_addresses(text))


_REDACTOR = RedactingFilter()


def redacting_filter() -> RedactingFilter:
    """The one filter instance (adding it twice to a logger or handler is then a no-op)."""
    return _REDACTOR


def install_log_redaction() -> None:
    """Put the filter on every handler of the root logger and the loggers that bring their own."""
    for name in (None, "werkzeug", "gunicorn.error", "gunicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if _REDACTOR not in handler.filters:
                handler.addFilter(_REDACTOR)
