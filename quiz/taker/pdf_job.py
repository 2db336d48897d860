"""What a PDF is made of: the stored response, its content version, and the brand of its moment.

A PDF is a document of its moment. The finish records the brand as the site settings stand then
(`branding_now`: name, colour, logo, call to action, with the settings' version), and every
render of that response, in the background or on demand, now or after a lease ran out, lays it
out with that brand (`site_for`) and the response's own content version. So a coach who changes
the colour a second after a taker finished does not change that taker's PDF, and a render that
runs twice makes the same document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template

from quiz import result_progress
from quiz.app_state import get_content_version
from quiz.charts import result_bars
from quiz.counters.norms_read import result_norms
from quiz.domain.result_layout import build_layout
from quiz.links import external_url, make_cta_token
from quiz.models import Response
from quiz.site import logo as site_logo
from quiz.site import settings as site_settings
from quiz.site.settings import SiteSettings
from quiz.taker import pdf_render, response_reads

LOCAL_TIME = ZoneInfo("Europe/Berlin")
# The settings the PDF shows (templates/pdf/): its brand.
BRANDING_KEYS = (
    "brand.name",
    "brand.color",
    site_logo.KEY,
    "cta.url",
    "cta.label",
    "cta.text",
    "contact.email",
)


def branding_now() -> dict[str, Any] | None:
    """The brand as the site settings stand now, to be kept with a queued PDF (JSON); None
    before the first start's import of the settings (then the render takes them as they are)."""
    site = site_settings.current()
    if site.version == 0:
        return None
    return {
        "settings_version": site.version,
        "values": {key: site.values[key] for key in BRANDING_KEYS if key in site.values},
    }


def site_for(branding: Mapping[str, Any] | None) -> SiteSettings:
    """The settings a PDF is laid out with: today's, with its recorded brand over them."""
    site = site_settings.current()
    if not branding or not isinstance(branding.get("values"), Mapping):
        return site
    recorded = {
        key: value
        for key, value in branding["values"].items()
        if key in BRANDING_KEYS and isinstance(value, str | bool)
    }
    values = {**site.values, **recorded}
    logo = site.logo
    sha = values.get(site_logo.KEY)
    if not sha:
        logo = None
    elif logo is None or logo.sha256 != sha:
        logo = site_settings.stored_logo(str(sha))  # kept: logos are never deleted
    return SiteSettings(
        version=int(branding.get("settings_version") or 0), values=values, logo=logo
    )


def build(response: Response, branding: Mapping[str, Any] | None) -> pdf_render.RenderJob:
    """The PDF's HTML and the chart's bars, from what was stored with the response."""
    app = current_app
    content = get_content_version(response.content_version)
    analysis = response.analysis or []
    report = build_layout(
        content, analysis, response_reads.stored_answers(response.id), step_words=None
    )
    scores = response.scores()
    bands = response.bands or {}
    # The norms as they stand at the render: the PDF is kept, so its note says so.
    norms = result_norms(app.config, response.content_version, scores)
    rows = []
    for dimension in content.dimensions:
        if dimension.id in scores:
            band_ids = {band.id: band for band in dimension.bands}
            band = band_ids.get(bands.get(dimension.id, ""))
            rows.append(
                {
                    "name": dimension.name,
                    "score": scores[dimension.id],
                    "band_label": band.label if band else "",
                    "is_bottleneck": dimension.id == response.bottleneck,
                    "norm": norms.get(dimension.id),
                }
            )
    site = site_for(branding)
    logo, logo_type = _logo(site)
    finished = (response.finished_at or response.updated_at).astimezone(LOCAL_TIME)
    progress = result_progress.progress_of(response)
    earlier = result_progress.earlier_of(response) if progress else None
    html = render_template(
        "pdf/pdf.html",
        progress=progress,
        earlier_finished=earlier.finished_at if earlier else None,
        progress_chart_src=pdf_render.PROGRESS_URL,
        progress_size=None,
        site=site,
        report=report,
        first_name=response.first_name,
        finished=finished,
        rows=rows,
        has_norms=bool(norms),
        has_logo=logo is not None,
        chart_url=pdf_render.CHART_URL,
        logo_url=pdf_render.LOGO_URL,
        impressum_url=external_url(app, "legal.impressum"),
        privacy_url=external_url(app, "legal.privacy"),
        cta_url=_cta_url(response, site),
        cta_text=site.cta_text(response.bottleneck),
    )
    bars = result_bars(content.dimensions, scores, bands, response.bottleneck)
    return pdf_render.RenderJob(
        html=html,
        css=render_template("pdf/pdf.css", accent=site.color or _default_color()),
        bars=tuple(bars),
        logo=logo,
        logo_type=logo_type,
        lock_dir=app.instance_path,
        slots=app.config["QUIZ_REPORT_RENDERERS"],
        progress_rows=progress.rows if progress else (),
    )


def _cta_url(response: Response, site: SiteSettings) -> str | None:
    """The call to action's link through /weiter/ (counted as `pdf`); None without a target."""
    if not site.cta_href:
        return None
    token = make_cta_token(current_app.config, response.id, response.result_token or "", "pdf")
    return external_url(current_app, "cta.follow", token=token)


def _default_color() -> str:
    return str(site_settings.defaults().values.get("brand.color", ""))


def _logo(site: SiteSettings) -> tuple[bytes | None, str | None]:
    """The coach's logo from the site settings (stored re-encoded as PNG or JPEG), if any."""
    if site.logo is None:
        return None, None
    found = site_settings.logo_bytes(site.logo.sha256)
    return found if found is not None else (None, None)
