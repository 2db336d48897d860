"""The coach login: the form, the session, Flask-Login's wiring, and the limits on guessing.

Logging in starts a fresh session whose user id carries the coach's session nonce
(quiz.coach.accounts), so logging out or changing the password ends every session at once.

Throttling the login without letting strangers lock the coach out:

OWASP's device cookies ("Slow Down Online Guessing Attacks with Device Cookies"): a browser that
has logged in to an account before carries a signed cookie naming that account. Failed logins
from such a browser count against that cookie only, so any number of failures from elsewhere
never lock it out. Failures from every other browser count against the account; over that limit
only known browsers get in, and the coach gets an email, once per lockout. A device cookie that
fails too often is treated as unknown again. The per-address limit (a decorator on the view,
see quiz.web.limits) applies to everyone. All counts live in Flask-Limiter's storage, Redis when REDIS_URL is set, so
every worker shares them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import RateLimitItem, parse
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response as BaseResponse
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length

from quiz.coach import accounts as coach_accounts
from quiz.extensions import limiter, login_manager
from quiz.mail import outbox
from quiz.web import limits

log = logging.getLogger(__name__)

LOGIN_LIMIT_PER_ACCOUNT = "30 per hour"  # failures from unknown browsers, per account
LOGIN_LIMIT_PER_DEVICE = "10 per hour"  # failures from one known browser
DEVICE_COOKIE = "coach_device"
DEVICE_COOKIE_PATH = "/coach/login"  # only the login form ever needs it
DEVICE_COOKIE_DAYS = 365
_SALT = "coach-device"

ACCOUNT_LIMIT: RateLimitItem = parse(LOGIN_LIMIT_PER_ACCOUNT)
DEVICE_LIMIT: RateLimitItem = parse(LOGIN_LIMIT_PER_DEVICE)
# One alert per account limit window: the first failure over the limit sends it, later ones
# within the same lockout do not.
ALERT_LIMIT: RateLimitItem = type(ACCOUNT_LIMIT)(1, ACCOUNT_LIMIT.multiples)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _account_tag(email: str) -> str:
    """Names the account in the cookie without putting the address in it."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"coach-device:" + email.encode(), hashlib.sha256).hexdigest()[:32]


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


@dataclass
class LoginGuard:
    """The limits that apply to one login attempt for one (normalised) email address."""

    email: str
    device: str | None  # the nonce of a valid device cookie for this account, if any

    @classmethod
    def for_request(cls, email: str) -> LoginGuard:
        """The guard for this request's browser and the email entered."""
        email = coach_accounts.normalise_email(email)[:254]
        device = None
        raw = request.cookies.get(DEVICE_COOKIE, "")
        if raw:
            try:
                data = _serializer().loads(raw, max_age=DEVICE_COOKIE_DAYS * 86400)
            except BadSignature:
                data = None
            if (
                isinstance(data, dict)
                and isinstance(data.get("n"), str)
                and hmac.compare_digest(str(data.get("a", "")), _account_tag(email))
            ):
                device = data["n"]
        return cls(email=email, device=device)

    @property
    def trusted(self) -> bool:
        """A known browser for this account whose own failures are still within its limit."""
        return self.device is not None and (
            not _enabled() or limiter.limiter.test(DEVICE_LIMIT, "coach-device", self.device)
        )

    def check(self) -> None:
        """Raise 429 (with Retry-After) when this browser may not try this account now."""
        if not _enabled() or self.trusted:
            return
        strategy = limiter.limiter
        if not strategy.test(ACCOUNT_LIMIT, "coach-account", self.email):
            reset, _remaining = strategy.get_window_stats(
                ACCOUNT_LIMIT, "coach-account", self.email
            )
            raise TooManyRequests(retry_after=max(1, math.ceil(reset - time.time())))

    def failed(self) -> None:
        """Count a failed login against the device cookie or, for other browsers, the account."""
        if not _enabled():
            return
        strategy = limiter.limiter
        if self.trusted:
            strategy.hit(DEVICE_LIMIT, "coach-device", self.device or "")
            return
        strategy.hit(ACCOUNT_LIMIT, "coach-account", self.email)
        if strategy.test(ACCOUNT_LIMIT, "coach-account", self.email):
            return
        # The account is locked now: tell the coach, once per lockout (the storage's atomic
        # counter decides which worker sends it).
        if strategy.hit(ALERT_LIMIT, "coach-alert", self.email):
            reset, _remaining = strategy.get_window_stats(
                ACCOUNT_LIMIT, "coach-account", self.email
            )
            _alert(self.email, max(1, math.ceil((reset - time.time()) / 60)))

    def remember(self, response: BaseResponse) -> None:
        """After a successful login: mark this browser as known for the account."""
        value = _serializer().dumps({"a": _account_tag(self.email), "n": secrets.token_hex(16)})
        response.set_cookie(
            DEVICE_COOKIE,
            value,
            max_age=timedelta(days=DEVICE_COOKIE_DAYS),
            path=DEVICE_COOKIE_PATH,
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            httponly=True,
            samesite="Strict",
        )


def _alert(email: str, locked_minutes: int) -> None:
    """Queue the lockout email when the account exists (nobody is told about made-up ones)."""
    if coach_accounts.find_coach(email) is None:
        return
    outbox.queue_coach_alert(email, locked_minutes=locked_minutes)
    log.warning("coach login locked for %d minutes after failed logins", locked_minutes)


# --- the session --------------------------------------------------------------------------------


class CoachUser(UserMixin):
    """The logged-in coach as Flask-Login sees it; the id carries the session nonce."""

    def __init__(self, session_id: str, email: str) -> None:
        self.session_id = session_id
        self.email = email

    def get_id(self) -> str:
        """The value stored in the session cookie."""
        return self.session_id


def init_login(app: Flask) -> None:
    """Wire Flask-Login: load the coach of a session cookie, send strangers to the login form."""
    login_manager.init_app(app)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(value: str) -> CoachUser | None:
        coach = coach_accounts.load_by_session_id(value)
        return CoachUser(coach_accounts.session_id(coach), coach.email) if coach else None

    @login_manager.unauthorized_handler
    def unauthorized() -> BaseResponse:
        return redirect(url_for("coach.login", next=request.full_path.rstrip("?")))


def require_login() -> BaseResponse | None:
    """Every coach page but the login form needs a logged-in coach (a before_request hook)."""
    if request.endpoint == "coach.login":
        return None
    if not current_user.is_authenticated:
        redirect_to_login: BaseResponse = login_manager.unauthorized()  # see init_login
        return redirect_to_login
    return None


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


# --- the views ----------------------------------------------------------------------------------


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("E-Mail-Adresse", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Passwort", validators=[InputRequired(), Length(max=1024)])


def _failed_login() -> bool:
    return bool(g.get("coach_login_failed"))


@limits.posts(limits.LOGIN_PER_ADDRESS, deduct_when=lambda _r: _failed_login())
def login() -> BaseResponse | tuple[str, int]:
    """The login form; a fresh session on success, the same message for every failure.

    Besides the per-address limit above, `LoginGuard` limits failures per account for unknown
    browsers and per device cookie for browsers that have logged in before.
    """
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        guard = LoginGuard.for_request(form.email.data or "")
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
    # A POST that did not log in: 401 for wrong credentials, 422 for a form with errors; a GET
    # (and Flask's HEAD, a monitor checking the page) shows the form.
    status = 422 if form.is_submitted() and not failed else 401 if failed else 200
    return render_template("coach/login.html", form=form, failed=failed), status


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
