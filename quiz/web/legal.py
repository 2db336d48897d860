"""The legal and the crawlers' pages: `/impressum`, `/datenschutz`, `/robots.txt`, `/sitemap.xml`.

The Impressum (§ 5 DDG) shows the contact settings. The privacy notice is generated from what
this installation does (quiz.site.privacy_notice): the facts are gathered here from the configuration
(retention periods, the SMTP host, the rate limits' storage), the settings (the controller, the
hosting provider, an addition) and the webhook endpoints. Nothing on these pages depends on who
is logged in, so they stay cacheable like every public page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, render_template, url_for
from limits import parse_many
from werkzeug.wrappers import Response

from quiz.site import privacy_notice as privacy
from quiz.site import settings as site_settings
from quiz.site.processings import PROCESSINGS
from quiz.web import limits as rate_limits
from quiz.web.coach.login import LOGIN_LIMIT_PER_ACCOUNT, LOGIN_LIMIT_PER_DEVICE
from quiz.webhooks.endpoints import list_endpoints
from quiz.webhooks.queue import EVENT_TYPES

bp = Blueprint("legal", __name__)

# The public pages a search engine may list (sitemap.xml), by endpoint.
SITEMAP_ENDPOINTS = ("public.landing", "legal.impressum", "legal.privacy")
# Every rate limit: its configuration key, or its fixed value.
_LIMIT_KEYS = ("QUIZ_LIMIT_START", "QUIZ_LIMIT_STEP", "QUIZ_LIMIT_MAIL")
_FIXED_LIMITS = (
    rate_limits.LOGIN_PER_ADDRESS,
    rate_limits.SETTINGS_PER_ADDRESS,
    LOGIN_LIMIT_PER_ACCOUNT,
    LOGIN_LIMIT_PER_DEVICE,
)
_LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


@bp.get("/impressum")
def impressum() -> str:
    """The provider's identification (§ 5 DDG), from the contact settings."""
    return render_template("legal/impressum.html")


@bp.get("/datenschutz", endpoint="privacy")
def privacy_notice() -> str:
    """The privacy notice: every processing this installation does, and the taker's rights."""
    facts = privacy_facts(current_app.config)
    return render_template(
        "legal/privacy.html", facts=facts, entries=privacy.notice(facts, PROCESSINGS)
    )


@bp.get("/robots.txt")
def robots() -> Response:
    """Every crawler welcome; private pages say `noindex` themselves, so they are not hidden."""
    body = f"User-agent: *\nAllow: /\n\nSitemap: {_absolute('legal.sitemap')}\n"
    return _text(body, "text/plain; charset=utf-8")


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """The public pages, as absolute URLs under PUBLIC_URL."""
    urls = [_absolute(endpoint) for endpoint in SITEMAP_ENDPOINTS]
    return _text(render_template("legal/sitemap.xml", urls=urls), "application/xml")


def _absolute(endpoint: str) -> str:
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + url_for(endpoint)


def _text(body: str, content_type: str) -> Response:
    response = make_response(body)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def privacy_facts(config: Mapping[str, Any]) -> privacy.Facts:
    """What this installation does, as the privacy notice describes it."""
    site = site_settings.current()
    return privacy.Facts(
        controller=site.text("contact.name") or site.brand_name,
        contact_email=site.text("contact.email"),
        optin_days=int(config["QUIZ_OPTIN_DAYS"]),
        anonymise_days=int(config["QUIZ_ANONYMISE_DAYS"]),
        optin_link_days=int(config["MAIL_OPTIN_DAYS"]),
        draft_cookie_days=int(config["DRAFT_COOKIE_DAYS"]),
        require_email=bool(config["QUIZ_REQUIRE_EMAIL"]),
        smtp_host=str(config.get("SMTP_HOST") or ""),
        ratelimit_host=_storage_host(str(config.get("RATELIMIT_STORAGE_URI") or "")),
        ratelimit_seconds=_longest_limit(config) if config.get("RATELIMIT_ENABLED") else 0,
        webhook_hosts=_webhook_hosts(),
        hosting=site.text("privacy.hosting"),
        notify_new_lead=site.flag("notify.new_lead"),
        followup_schedule=(site.text("followup.schedule") if site.flag("followup.enabled") else ""),
        reassess_after=site.text("followup.reassess_after"),
        reassess_link_days=int(site.text("followup.link_days") or "30"),
    )


def _storage_host(uri: str) -> str:
    """The rate limits' storage host when it is another machine ("" for this one)."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "memory") or parts.scheme.endswith("+unix"):
        return ""
    host = parts.hostname or ""
    return "" if host in _LOCAL_HOSTS else host


def _longest_limit(config: Mapping[str, Any]) -> int:
    """The longest window of any rate limit, in seconds: no counter outlives it."""
    limits = [str(config[key]) for key in _LIMIT_KEYS if config.get(key)] + list(_FIXED_LIMITS)
    return max(item.get_expiry() for text in limits for item in parse_many(text))


def _webhook_hosts() -> tuple[privacy.WebhookHost, ...]:
    """Every host a webhook endpoint points to, with the events it receives, in event order."""
    by_host: dict[str, set[str]] = {}
    for endpoint in list_endpoints():
        host = urlsplit(endpoint.url).hostname or endpoint.url
        by_host.setdefault(host, set()).update(endpoint.events or ())
    return tuple(
        privacy.WebhookHost(host, tuple(event for event in EVENT_TYPES if event in events))
        for host, events in sorted(by_host.items())
    )
