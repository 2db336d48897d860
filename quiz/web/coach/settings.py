"""The coach's settings under /coach/einstellungen: the site's settings (brand, contact and
Impressum, privacy, call to action, email sender, notifications, embedding), webhook endpoints,
their delivery log and the coach's own password.

Login and the layout are the coach view's (quiz.web.coach), headers quiz.web.security's; the
work is done by quiz.webhooks and quiz.coach.accounts, this module only maps forms to them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    PasswordField,
    SelectMultipleField,
    StringField,
    URLField,
)
from wtforms.fields import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3; types-WTForms stops at 3.2
from wtforms.validators import EqualTo, InputRequired, Length, ValidationError

from quiz.coach import accounts as coach_accounts
from quiz.extensions import db
from quiz.site import settings as site_settings
from quiz.site.logo import KEY as LOGO_KEY
from quiz.site.logo import MAX_BYTES as LOGO_MAX_BYTES
from quiz.site.value_checks import SettingError
from quiz.web import limits
from quiz.web.coach import site_form
from quiz.web.coach.login import CoachUser, require_login
from quiz.webhooks import endpoints, queue
from quiz.webhooks.guard import BlockedURL
from quiz.webhooks.models import WebhookEndpoint

bp = Blueprint("coach_settings", __name__, url_prefix="/coach/einstellungen")
bp.before_request(require_login)

URL_PROBLEMS = {
    "scheme": "Bitte geben Sie eine Adresse an, die mit https:// (oder http://) beginnt.",
    "https": "Bitte verwenden Sie eine Adresse mit https://.",
    "host": "In der Adresse fehlt der Servername.",
    "credentials": "Die Adresse darf keinen Benutzernamen und kein Passwort enthalten.",
    "private": "Diese Adresse zeigt auf ein internes Netz; sie ist hier nicht erlaubt.",
    "invalid": "Das ist keine gültige Adresse.",
}


def init_app(app: Flask) -> None:
    """Register the settings pages (after the coach view, whose login they use)."""
    app.register_blueprint(bp)


def _allowed_url(_form: FlaskForm, field: URLField) -> None:
    try:
        field.data = endpoints.checked_url(field.data or "")
    except BlockedURL as exc:
        raise ValidationError(URL_PROBLEMS.get(exc.reason, URL_PROBLEMS["invalid"])) from exc


class EndpointForm(FlaskForm):
    """An endpoint's URL, a note and its events (labels of the events live in the template)."""

    url = URLField(
        "Adresse (URL) des Empfängers",
        validators=[
            InputRequired("Bitte geben Sie die Adresse an."),
            Length(max=2000, message="Die Adresse ist zu lang."),
            _allowed_url,
        ],
    )
    description = StringField(
        "Beschreibung (optional)",
        validators=[Length(max=200, message="Bitte höchstens 200 Zeichen.")],
    )
    events = SelectMultipleField(
        "Ereignisse",
        choices=[SelectChoice(event) for event in queue.EVENT_TYPES],
        validators=[InputRequired("Bitte wählen Sie mindestens ein Ereignis.")],
    )
    enabled = BooleanField("Aktiv: Ereignisse werden gesendet")


class PasswordForm(FlaskForm):
    """The current password and the new one twice."""

    current = PasswordField(
        "Aktuelles Passwort",
        validators=[InputRequired("Bitte geben Sie Ihr aktuelles Passwort ein."), Length(max=1024)],
    )
    new = PasswordField(
        "Neues Passwort",
        validators=[
            InputRequired("Bitte geben Sie ein neues Passwort ein."),
            Length(
                min=coach_accounts.MIN_PASSWORD_LENGTH,
                max=1024,
                message=(
                    f"Das neue Passwort braucht mindestens {coach_accounts.MIN_PASSWORD_LENGTH} "
                    "Zeichen."
                ),
            ),
        ],
    )
    repeat = PasswordField(
        "Neues Passwort wiederholen",
        validators=[
            InputRequired("Bitte wiederholen Sie das neue Passwort."),
            EqualTo("new", message="Die beiden neuen Passwörter stimmen nicht überein."),
        ],
    )


def _coach_id() -> int:
    return int(current_user.session_id.partition(":")[0])


def _page(status: int = 200, site: dict[str, Any] | None = None, **forms: Any) -> tuple[str, int]:
    endpoint_form = forms.pop("endpoint_form", None) or EndpointForm(
        formdata=None, data={"events": list(queue.EVENT_TYPES)}
    )
    return (
        render_template(
            "coach/settings.html",
            endpoints=endpoints.list_endpoints(),
            deliveries=queue.recent_deliveries(),
            endpoint_form=endpoint_form,
            password_form=forms.pop("password_form", None) or PasswordForm(formdata=None),
            action_form=FlaskForm(),
            done=request.args.get("done", ""),
            **(site or site_form.page_context()),
        ),
        status,
    )


def _check_action() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


def _back(done: str, anchor: str = "webhooks") -> BaseResponse:
    return redirect(url_for("coach_settings.settings", done=done, _anchor=anchor))


@bp.get("")
def settings() -> tuple[str, int]:
    """Endpoints, the delivery log and the password form."""
    return _page()


@bp.post("/website/<group>")
def save_site_group(group: str) -> BaseResponse | tuple[str, int]:
    """Store one group of the site settings, all or nothing."""
    if group not in site_form.GROUP_IDS:
        abort(404)
    _check_action()
    raw = site_form.submitted(group)
    errors = site_settings.errors(raw)
    if errors:
        return _page(422, site=site_form.page_context(raw, errors))
    site_settings.update(raw, site_form.changed_by())
    return _back("site", f"site-{group}")


@bp.post("/website/logo")
def upload_logo() -> BaseResponse | tuple[str, int]:
    """Replace the logo with an uploaded PNG or JPEG, or remove it."""
    request.max_content_length = LOGO_MAX_BYTES + 64 * 1024
    _check_action()
    if request.form.get("remove"):
        site_settings.remove_logo(site_form.changed_by())
        return _back("logo", "site-brand")
    upload = request.files.get("logo")
    try:
        site_settings.set_logo(upload.read() if upload else b"", site_form.changed_by())
    except SettingError as error:
        return _page(422, site=site_form.page_context({}, {LOGO_KEY: error.message}))
    return _back("logo", "site-brand")


@bp.post("/webhooks")
def add_endpoint() -> tuple[str, int]:
    """Save a new endpoint and show its secret, this once."""
    form = EndpointForm()
    if not form.validate_on_submit():
        return _page(422, endpoint_form=form)
    endpoint, secret = endpoints.add_endpoint(
        form.url.data or "", form.events.data or [], form.description.data or ""
    )
    return render_template("coach/settings_secret.html", endpoint=endpoint, secret=secret), 200


@bp.route("/webhooks/<row_id:endpoint_id>", methods=["GET", "POST"])
def edit_endpoint(endpoint_id: int) -> BaseResponse | tuple[str, int]:
    """Change an endpoint's address, events, note and state."""
    endpoint = _endpoint(endpoint_id)
    form = EndpointForm(obj=endpoint) if request.method == "GET" else EndpointForm()
    if form.validate_on_submit():
        endpoints.update_endpoint(
            endpoint_id,
            url=form.url.data or "",
            events=form.events.data or [],
            description=form.description.data or "",
            enabled=bool(form.enabled.data),
        )
        return _back("saved")
    status = 422 if request.method == "POST" else 200
    page = render_template(
        "coach/settings_endpoint.html", endpoint=endpoint, form=form, action_form=FlaskForm()
    )
    return page, status


@bp.post("/webhooks/<row_id:endpoint_id>/test")
def test_endpoint(endpoint_id: int) -> BaseResponse:
    """Queue a `webhook.test` event for this endpoint."""
    _check_action()
    if not queue.queue_test(endpoint_id):
        abort(404)
    return _back("test", "zustellungen")


@bp.post("/webhooks/<row_id:endpoint_id>/status")
def toggle_endpoint(endpoint_id: int) -> BaseResponse:
    """Pause or resume an endpoint."""
    _check_action()
    enable = request.form.get("enable") == "1"
    if not endpoints.set_enabled(endpoint_id, enable):
        abort(404)
    return _back("enabled" if enable else "disabled")


@bp.post("/webhooks/<row_id:endpoint_id>/secret")
def new_secret(endpoint_id: int) -> tuple[str, int]:
    """Give an endpoint a new secret and show it, this once."""
    _check_action()
    secret = endpoints.rotate_secret(endpoint_id)
    if secret is None:
        abort(404)
    endpoint = _endpoint(endpoint_id)
    return (
        render_template(
            "coach/settings_secret.html", endpoint=endpoint, secret=secret, rotated=True
        ),
        200,
    )


@bp.post("/webhooks/<row_id:endpoint_id>/delete")
def delete_endpoint(endpoint_id: int) -> BaseResponse:
    """Delete an endpoint and its delivery log."""
    _check_action()
    if not endpoints.delete_endpoint(endpoint_id):
        abort(404)
    return _back("deleted")


@bp.post("/zustellungen/<row_id:delivery_id>/erneut")
def resend(delivery_id: int) -> BaseResponse:
    """Queue a failed or delivered event once more (same webhook-id, fresh attempts)."""
    _check_action()
    resent = queue.resend(delivery_id)
    return _back("resent" if resent else "not-resent", "zustellungen")


def _wrong_password() -> bool:
    return bool(g.get("settings_password_failed"))


@bp.post("/passwort")
@limits.posts(limits.SETTINGS_PER_ADDRESS, deduct_when=lambda _r: _wrong_password())
def change_password() -> BaseResponse | tuple[str, int]:
    """A new password: the current one is required; every other session ends, this one stays."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(422, password_form=form)
    email = current_user.email
    if coach_accounts.authenticate(email, form.current.data or "") is None:
        g.settings_password_failed = True
        form.current.errors = ["Das aktuelle Passwort stimmt nicht."]
        return _page(422, password_form=form)
    # A new nonce ends every session, this one included; then this one logs in again with it.
    coach = coach_accounts.set_password(email, form.new.data or "")
    login_user(CoachUser(coach_accounts.session_id(coach), coach.email))
    return _back("password", "passwort")
