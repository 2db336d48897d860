"""The site settings' part of /coach/einstellungen: what the page shows of them, and a group's
form read into values for quiz.site.settings (which checks and stores them).

One form per group (Marke, Kontakt & Impressum, Datenschutz, Handlungsaufforderung,
E-Mail-Absender, Benachrichtigungen, Einbetten); the views are quiz.web.coach.settings'.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request
from flask_login import current_user

from quiz.site import settings as site_settings
from quiz.site.logo import MAX_BYTES as LOGO_MAX_BYTES
from quiz.site.schema import GROUPS
from quiz.site.settings import SiteSettings

GROUP_IDS = tuple(group for group, _label in GROUPS)


def changed_by() -> str:
    """Who the history names for a change made on the page."""
    return f"coach:{current_user.email}"


def page_context(
    entered: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    """What the settings page shows of the site settings (with a refused form's own values)."""
    current = site_settings.current()
    schema = site_settings.schema()
    return {
        "site_missing": [schema.get(key).label for key in current.impressum_missing],  # type: ignore[union-attr]
        "site_groups": [
            (group, label, site_settings.schema().in_group(group)) for group, label in GROUPS
        ],
        "site_current": current,
        "site_entered": entered or {},
        "site_errors": errors or {},
        "site_history": site_settings.history(),
        "logo_max_mb": LOGO_MAX_BYTES // (1024 * 1024),
        "embed": embed_context(current),
    }


def embed_context(current: SiteSettings) -> dict[str, str]:
    """What the embed snippet needs: the quiz's address and origin, the coach's site's origin."""
    public_url = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    parts = urlsplit(public_url)
    ancestors = current.text("embed.frame_ancestors").split()
    others = [source for source in ancestors if source.startswith(("https://", "http://"))]
    return {
        "src": f"{public_url}/?utm_source=website&utm_medium=embed",
        "origin": f"{parts.scheme}://{parts.netloc}",
        "host": parts.hostname or "",
        # The site to allow: one already allowed, else a guess from the call to action's target.
        "site": others[0] if others else _guess_site(current),
        "allowed": " ".join(others),
    }


def _guess_site(current: SiteSettings) -> str:
    """The coach's own website's origin as far as the settings tell, else an example."""
    target = urlsplit(current.text("cta.url"))
    if target.scheme == "https" and target.hostname:
        return f"https://{target.netloc}"
    _, _, domain = current.text("contact.email").rpartition("@")
    return f"https://www.{domain}" if domain else "https://www.ihre-praxis.de"


def submitted(group: str) -> dict[str, str]:
    """A group's form as raw values (an unticked box is "false"; text cut at a safe length)."""
    raw: dict[str, str] = {}
    for setting in site_settings.schema().in_group(group):
        if setting.kind == "image":
            continue
        if setting.kind == "bool":
            raw[setting.key] = "true" if request.form.get(setting.key) else "false"
        else:
            # Long enough to be refused with "höchstens N Zeichen", short enough to hold no novel.
            raw[setting.key] = request.form.get(setting.key, "")[: setting.max_length * 2 + 10]
    return raw
