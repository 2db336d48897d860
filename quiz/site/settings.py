"""The one writer and the reader of the site settings (quiz.site.models).

Every worker of every machine sees a change at once: each request reads the settings' version
(one row, one small query) and reloads its worker's copy when the version moved; the copy is kept
in the app's caches keyed by that version, so pages cached with the settings they showed are keyed
by it too. Outside a request (the mail sender, a command) every call checks the version again, so
a sender that runs for days picks up a new sender name with its next message.

The first start fills the settings from today's environment variables (QUIZ_COACH_NAME,
QUIZ_CTA_URL, QUIZ_FRAME_ANCESTORS, a PNG or JPEG QUIZ_COACH_LOGO, the address of MAIL_FROM); after
that the environment is not read for them again. A QUIZ_PRIVACY_FILE becomes the addition to the
generated privacy notice (privacy.extra). Secrets never live here.

The reading, caching and writing of the settings belong together (one version number ties
them); the keys and their checks live apart, in quiz.site.schema and quiz.site.value_checks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from flask import Flask, current_app, g, has_app_context, has_request_context
from sqlalchemy import delete, select, text
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from quiz import caches, database, hot_reads
from quiz.app_state import get_content
from quiz.extensions import db
from quiz.models import utcnow
from quiz.site import logo as site_logo
from quiz.site.models import SiteAsset, SiteSetting, SiteSettingChange, SiteState
from quiz.site.schema import DEFAULT_BRAND, Schema, build_schema
from quiz.site.value_checks import SettingError

log = logging.getLogger(__name__)

_SCHEMA_KEY = "quiz.site.schema"
_VERSION_SQL = "SELECT settings_version FROM site_state WHERE id = 1"
_VERSION = text(_VERSION_SQL)
_G_KEY = "_quiz_site_settings"
# The settings check-deploy and the dashboard name while they still have their defaults.
CUSTOMISE = (
    "brand.name",
    "contact.name",
    "contact.address",
    "contact.email",
    "mail.sender_address",
    "cta.url",
)
# The environment variables the first start takes over (and what they become).
FIRST_RUN_IMPORT = {
    "QUIZ_COACH_NAME": "brand.name",
    "QUIZ_CTA_URL": "cta.url",
    "QUIZ_FRAME_ANCESTORS": "embed.frame_ancestors",
}
DEVELOPMENT_SENDER = "quiz@localhost"


@dataclass(frozen=True)
class Logo:
    """The stored logo: its hash names it, so its URL never serves another picture."""

    sha256: str
    content_type: str
    width: int
    height: int

    @property
    def filename(self) -> str:
        """The name it is served under (quiz.web.share)."""
        return f"logo-{self.sha256}.{site_logo.extension(self.content_type)}"


@dataclass(frozen=True)
class SiteSettings:
    """Every setting of this site at one version, defaults filled in."""

    version: int
    values: Mapping[str, str | bool]
    logo: Logo | None = None
    # Keys whose value differs from the default (stored rows).
    changed: frozenset[str] = field(default_factory=frozenset)

    def text(self, key: str) -> str:
        """A text setting."""
        return str(self.values.get(key, ""))

    def flag(self, key: str) -> bool:
        """A true/false setting."""
        return self.values.get(key) is True

    @property
    def brand_name(self) -> str:
        """The brand in the header, the emails, the PDF and the preview image."""
        return self.text("brand.name") or DEFAULT_BRAND

    @property
    def color(self) -> str:
        """The brand colour (white text on it reads at 4.5:1 or better)."""
        return self.text("brand.color")

    def sender(self, fallback: str) -> tuple[str, str]:
        """(display name, address) of the emails; `fallback` is MAIL_FROM."""
        _name, address = parseaddr(fallback)
        return (
            self.text("mail.sender_name") or self.brand_name,
            self.text("mail.sender_address") or address or DEVELOPMENT_SENDER,
        )

    @property
    def cta_href(self) -> str:
        """Where the call to action leads: its URL, else a reply to the coach's address."""
        url = self.text("cta.url")
        if url:
            return url
        email = self.text("contact.email")
        return f"mailto:{email}" if email else ""

    def cta_text(self, dimension: str | None) -> str:
        """The text above the button: the bottleneck's own when there is one, else the general."""
        if dimension:
            own = self.text(f"cta.text.{dimension}")
            if own:
                return own
        return self.text("cta.text")

    @property
    def postal_sender(self) -> str:
        """The Impressum's name and postal address on one line ("" until they are set)."""
        parts = [self.text("contact.name"), *self.text("contact.address").split("\n")]
        return ", ".join(part.strip() for part in parts if part.strip())

    @property
    def impressum_missing(self) -> list[str]:
        """The keys of the Impressum (§ 5 DDG) that are still empty."""
        return [
            key
            for key in ("contact.name", "contact.address", "contact.email")
            if not self.text(key)
        ]

    @property
    def defaults_in_place(self) -> list[str]:
        """The keys a site should set that still have their defaults (check-deploy lists them)."""
        return [key for key in CUSTOMISE if key not in self.changed]


def schema(app: Flask | None = None) -> Schema:
    """This app's settings: the fixed ones and a call-to-action text per dimension."""
    app = app or current_app
    found = app.extensions.get(_SCHEMA_KEY)
    if found is None:
        content = get_content(app)
        dimensions = [(d.id, d.name) for d in content.dimensions]
        found = app.extensions[_SCHEMA_KEY] = build_schema(
            dimensions, content.followups_per_dimension
        )
    return found


def defaults(app: Flask | None = None) -> SiteSettings:
    """The settings as they are before anything is set (version 0; no database needed)."""
    return SiteSettings(version=0, values=schema(app).defaults())


def current(app: Flask | None = None) -> SiteSettings:
    """The settings now: one query for the version; the worker's copy when it is current."""
    app = app or current_app
    if has_app_context():  # a request's copy, or one `hold()` keeps
        memo: SiteSettings | None = g.get(_G_KEY)
        if memo is not None:
            return memo
    # Every request reads it: straight through the driver on SQLite (quiz.hot_reads).
    version = hot_reads.read_fixed_value(_VERSION_SQL)
    if version is None:
        if database.in_write():
            # Inside a writer's transaction (an email being claimed, say) the first start's
            # import waits for the next read; meanwhile the environment's values are shown.
            return _before_import(app)
        version = _first_run(app)
    store = caches.of(app).site_settings
    settings = store.get(version)
    if settings is None:
        settings = _load(app, int(version))
        store.put(version, settings)
    if has_request_context():
        setattr(g, _G_KEY, settings)
    return settings


def hold(app: Flask | None = None) -> SiteSettings:
    """Read the settings now and keep this copy for the rest of the app context: a mail
    delivery round composes each of its emails from it, one query instead of several per email
    (a change reaches the next round)."""
    settings = current(app)
    setattr(g, _G_KEY, settings)
    return settings


def defaults_for_this_request(app: Flask | None = None) -> None:
    """Let the rest of this request show the defaults (unless it read the settings already):
    the 503 page renders without asking the database that just went away."""
    if has_request_context() and g.get(_G_KEY) is None:
        setattr(g, _G_KEY, defaults(app))


def current_or_defaults(app: Flask | None = None) -> SiteSettings:
    """`current()`, or the defaults while the database cannot be read (the error pages, the
    headers of a response that is already made). The failed session is discarded, so the
    request's next statement starts on a fresh connection instead of a broken transaction, and
    the rest of the request shows the defaults without asking again."""
    try:
        return current(app)
    except SQLAlchemyError:
        database.discard_session()
        defaults_for_this_request(app)
        return defaults(app)


def _load(app: Flask, version: int) -> SiteSettings:
    values: dict[str, str | bool] = dict(schema(app).defaults())
    changed: set[str] = set()
    for row in db.session.execute(select(SiteSetting)).scalars():
        setting = schema(app).get(row.key)
        if setting is None:  # a key from a newer version of the app, or one it dropped
            continue
        values[row.key] = row.value == "true" if setting.kind == "bool" else row.value
        changed.add(row.key)
    sha = values.get(site_logo.KEY)
    found = stored_logo(sha) if isinstance(sha, str) and sha else None
    return SiteSettings(version=version, values=values, logo=found, changed=frozenset(changed))


def stored_logo(sha256: str) -> Logo | None:
    """A stored logo's description (every logo ever set is kept), or None."""
    asset = db.session.execute(
        select(SiteAsset.sha256, SiteAsset.content_type, SiteAsset.width, SiteAsset.height).where(
            SiteAsset.sha256 == sha256
        )
    ).one_or_none()
    return Logo(*asset) if asset is not None else None


# --- writing -----------------------------------------------------------------------------------


def _stored(value: str | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _apply(key: str, value: str | bool, default: str | bool, changed_by: str) -> bool:
    """Store one checked value (no row when it is the default) and record the change."""
    row = db.session.get(SiteSetting, key)
    old = row.value if row is not None else None
    new = None if value == default else _stored(value)
    if old == new:
        return False
    if new is None:
        db.session.execute(delete(SiteSetting).where(SiteSetting.key == key))
    elif row is None:
        db.session.add(SiteSetting(key=key, value=new, updated_at=utcnow()))
    else:
        row.value, row.updated_at = new, utcnow()
    db.session.add(
        SiteSettingChange(key=key, old_value=old, new_value=new, changed_by=changed_by[:300])
    )
    return True


def _bump() -> None:
    """One more version, atomically (two changes at once on PostgreSQL get two versions)."""
    db.session.execute(
        update_rows(SiteState)
        .where(SiteState.id == 1)
        .values(settings_version=SiteState.settings_version + 1)
    )


def bump_version() -> None:
    """Texts the site shows changed elsewhere (an A/B test started or stopped, in the caller's
    write transaction): every worker reloads, and pages cached with the old version go."""
    _bump()


def update(raw: Mapping[str, str], changed_by: str, app: Flask | None = None) -> list[str]:
    """Check every value first, then store them all in one transaction; the keys that changed.

    An empty value restores the default, except for a setting where empty means off
    (`Setting.empty_is_off`). Raises SettingError for the first bad value, with
    nothing stored (use `errors()` to get every problem at once for a form).
    """
    app = app or current_app
    defaults_ = schema(app).defaults()
    unknown = [key for key in raw if key not in defaults_]
    if unknown:
        raise SettingError(unknown[0], "Diese Einstellung gibt es nicht.")
    checked = {
        key: schema(app).check(key, value)
        if value.strip() or _empty_is_off(app, key)
        else defaults_[key]
        for key, value in raw.items()
    }
    current(app)  # the first start's import happens before anything is changed
    with database.write():
        changed = [
            key for key, value in checked.items() if _apply(key, value, defaults_[key], changed_by)
        ]
        if changed:
            _bump()
    return changed


def _empty_is_off(app: Flask, key: str) -> bool:
    setting = schema(app).get(key)
    return setting is not None and setting.empty_is_off


def errors(raw: Mapping[str, str], app: Flask | None = None) -> dict[str, str]:
    """Every value that cannot be stored, as {key: German message} (empty when all are fine)."""
    found: dict[str, str] = {}
    for key, value in raw.items():
        try:
            if value.strip() or schema(app).get(key) is None:
                schema(app).check(key, value)
        except SettingError as error:
            found[key] = error.message
    return found


def set_logo(data: bytes, changed_by: str) -> site_logo.ProcessedLogo:
    """Check, re-encode and store a new logo; SettingError (German) when it cannot be used."""
    processed = site_logo.process(data)
    current()
    with database.write():
        if db.session.get(SiteAsset, processed.sha256) is None:
            db.session.add(
                SiteAsset(
                    sha256=processed.sha256,
                    content_type=processed.content_type,
                    width=processed.width,
                    height=processed.height,
                    data=processed.data,
                )
            )
        if _apply(site_logo.KEY, processed.sha256, "", changed_by):
            _bump()
    return processed


def remove_logo(changed_by: str) -> bool:
    """No logo any more (the stored file stays: PDFs made with it are documents of their time)."""
    current()
    with database.write():
        changed = _apply(site_logo.KEY, "", "", changed_by)
        if changed:
            _bump()
    return changed


def logo_bytes(sha256: str) -> tuple[bytes, str] | None:
    """A stored logo's bytes and type, or None."""
    row = db.session.execute(
        select(SiteAsset.data, SiteAsset.content_type).where(SiteAsset.sha256 == sha256)
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def history(limit: int = 50) -> list[SiteSettingChange]:
    """The latest changes, newest first."""
    return list(
        db.session.execute(
            select(SiteSettingChange)
            .order_by(SiteSettingChange.changed_at.desc(), SiteSettingChange.id.desc())
            .limit(limit)
        ).scalars()
    )


# --- the first start ---------------------------------------------------------------------------


def _first_run(app: Flask) -> int:
    """Create the settings' version row, taking over today's environment variables; the version.

    Two workers starting at once: SQLite's writer lock lets one in after the other, and on
    PostgreSQL the second one's insert of the same row fails; either way the second finds the
    first's row and imports nothing.
    """
    try:
        with database.write():
            if db.session.get(SiteState, 1) is None:
                _import_environment(app)
                db.session.add(SiteState(id=1, settings_version=1))
                db.session.flush()
    except IntegrityError:
        db.session.rollback()
        log.info("site settings: another worker imported them first")
    version = db.session.execute(_VERSION).scalar()
    return int(version or 1)


def _from_environment(app: Flask, warn: bool = False) -> dict[str, str | bool]:
    """The settings the first start takes over from the environment (only usable values)."""
    found: dict[str, str | bool] = {}
    sources = dict(FIRST_RUN_IMPORT)
    raw_values = {variable: str(app.config.get(variable) or "").strip() for variable in sources}
    _, address = parseaddr(str(app.config.get("MAIL_FROM") or ""))
    if address and address != DEVELOPMENT_SENDER:
        sources["MAIL_FROM"] = "mail.sender_address"
        raw_values["MAIL_FROM"] = address
    privacy_file = str(app.config.get("QUIZ_PRIVACY_FILE") or "").strip()
    if privacy_file:
        # The text that used to replace the privacy notice becomes the addition to the one that
        # is now generated (quiz.site.privacy_notice).
        sources["QUIZ_PRIVACY_FILE"] = "privacy.extra"
        try:
            raw_values["QUIZ_PRIVACY_FILE"] = Path(privacy_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raw_values["QUIZ_PRIVACY_FILE"] = ""
            if warn:
                log.warning("site settings: QUIZ_PRIVACY_FILE not taken over (%s)", error)
    for variable, key in sources.items():
        if not raw_values[variable]:
            continue
        try:
            found[key] = schema(app).check(key, raw_values[variable])
        except SettingError as error:
            if warn:
                log.warning("site settings: %s not taken over: %s", variable, error.message)
    return found


def _before_import(app: Flask) -> SiteSettings:
    """What the settings will be once the first start's import has run (not kept)."""
    return SiteSettings(version=0, values={**schema(app).defaults(), **_from_environment(app)})


def _import_environment(app: Flask) -> None:
    defaults_ = schema(app).defaults()
    for key, value in _from_environment(app, warn=True).items():
        _apply(key, value, defaults_[key], "env")
    _import_logo(str(app.config.get("QUIZ_COACH_LOGO") or ""))


def _import_logo(path: str) -> None:
    """A PNG or JPEG QUIZ_COACH_LOGO becomes the logo; an SVG or remote logo is left for the page."""
    if not path:
        return
    try:
        processed = site_logo.process(Path(path).read_bytes())
    except (OSError, SettingError) as error:
        log.warning(
            "site settings: QUIZ_COACH_LOGO not taken over (%s); upload it on the settings page",
            error,
        )
        return
    db.session.add(
        SiteAsset(
            sha256=processed.sha256,
            content_type=processed.content_type,
            width=processed.width,
            height=processed.height,
            data=processed.data,
        )
    )
    _apply(site_logo.KEY, processed.sha256, "", "env")


def all_keys(app: Flask | None = None) -> Iterable[str]:
    """Every key, in page order."""
    return (setting.key for setting in schema(app).settings)
