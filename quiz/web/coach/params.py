"""The coach view's query-string and URL parameters, checked before any query runs.

Every parameter is either valid or reported: the pages ignore a bad filter and say so (in German,
through the codes in `Parsed.problems`, which templates/coach/labels.html words), the CSV export
and the charts answer 400 instead, before the first byte. A lead id that no row can have is a 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask import abort, g, request
from werkzeug.routing import IntegerConverter, Map

from quiz.coach.leads import LeadFilter
from quiz.coach.stats import DemoFilter, Filters
from quiz.counters.rollup_keys import QualityFilter
from quiz.models import LEAD_STATUSES, LeadTag, Response

# Days a filter may name. The quiz has no data from before 2000, and staying far from
# date.max keeps every `end + 1 day` and "first of the next month" the queries compute in range.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)
MAX_SEARCH = 100
MAX_CAMPAIGN = Response.__table__.c.utm_campaign.type.length or 100
MAX_VERSION = Response.__table__.c.content_version.type.length or 40
MAX_TAG = LeadTag.__table__.c.tag.type.length or 40
SORT_CHOICES = ("", "status")
DEMO_CHOICES: dict[str, DemoFilter] = {"": "all", "all": "all", "real": "real", "demo": "demo"}
QUALITY_CHOICES: dict[str, QualityFilter] = {
    "": "all",
    "all": "all",
    "clean": "clean",
    "flagged": "flagged",
}
# Only ASCII digits: `"²".isdigit()` is true, and int("١") is 1.
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PAGE = re.compile(r"[1-9][0-9]{0,8}")
# Response ids are int4 on PostgreSQL.
MAX_ID = 2**31 - 1


class LeadIdConverter(IntegerConverter):
    """A lead id in a URL: ASCII digits, 1 to 2**31 - 1; anything else matches no route (404)."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_ID)


@dataclass(frozen=True)
class Parsed:
    """The filters, search and page a request asked for, and what had to be ignored."""

    filters: Filters
    search: str
    page: int
    problems: tuple[str, ...]  # names of ignored parameters: from, to, campaign, ..., page
    leads: LeadFilter  # the leads list's status, tag and order


def _day(name: str, problems: list[str]) -> date | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    if _ISO_DAY.fullmatch(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            day = None
        if day is not None and FIRST_DAY <= day <= LAST_DAY:
            return day
    problems.append(name)
    return None


def _text(name: str, limit: int, problems: list[str]) -> str | None:
    raw = request.args.get(name, "")
    if len(raw) > limit:
        problems.append(name)
        return None
    return raw or None


def _page(problems: list[str]) -> int:
    raw = request.args.get("page", "")
    if not raw:
        return 1
    if _PAGE.fullmatch(raw):
        return int(raw)
    problems.append("page")
    return 1


def parse() -> Parsed:
    """The filters, search and page of this request; invalid ones left out and named."""
    problems: list[str] = []
    start = _day("from", problems)
    end = _day("to", problems)
    campaign = _text("campaign", MAX_CAMPAIGN, problems)
    version = _text("version", MAX_VERSION, problems)
    demo = DEMO_CHOICES.get(request.args.get("demo", ""))
    if demo is None:
        problems.append("demo")
    quality = QUALITY_CHOICES.get(request.args.get("quality", ""))
    if quality is None:
        problems.append("quality")
    search = _text("q", MAX_SEARCH, problems) or ""
    page = _page(problems)
    leads = _lead_filter(problems)
    filters = Filters(
        start=start,
        end=end,
        campaign=campaign,
        version=version,
        demo=demo or "all",
        quality=quality or "all",
    )
    return Parsed(filters=filters, search=search, page=page, problems=tuple(problems), leads=leads)


def _lead_filter(problems: list[str]) -> LeadFilter:
    status = request.args.get("status", "")
    if status and status not in LEAD_STATUSES:
        problems.append("status")
        status = ""
    sort = request.args.get("sort", "")
    if sort not in SORT_CHOICES:
        problems.append("sort")
        sort = ""
    return LeadFilter(status=status or None, tag=_text("tag", MAX_TAG, problems), sort=sort)


def lead_args(leads: LeadFilter) -> dict[str, str]:
    """The query-string form of the leads list's own choices."""
    args = {"status": leads.status or "", "tag": leads.tag or "", "sort": leads.sort}
    return {key: value for key, value in args.items() if value}


# --- this request's parameters, for the views ----------------------------------------------------


def parsed() -> Parsed:
    """This request's filters, search and page, checked once per request."""
    if "coach_params" not in g:
        g.coach_params = parse()
    params: Parsed = g.coach_params
    return params


def current_filters() -> Filters:
    """The valid filters from the query string (see `parsed` for what was left out)."""
    return parsed().filters


def strict_filters() -> Filters:
    """The filters for a download (CSV, chart): any invalid one is a 400, before the first byte."""
    if any(name != "page" for name in parsed().problems):
        abort(400)
    return parsed().filters


def param_problems() -> dict[str, tuple[str, ...]]:
    """The ignored parameters, for the notice in the coach layout (a context processor)."""
    if "coach_params" not in g:
        return {}
    return {"param_problems": g.coach_params.problems}


def filter_args(filters: Filters) -> dict[str, str]:
    """The query-string form of the filters (for links to charts, pages and the export)."""
    args = {
        "from": filters.start.isoformat() if filters.start else "",
        "to": filters.end.isoformat() if filters.end else "",
        "campaign": filters.campaign or "",
        "version": filters.version or "",
        "demo": "" if filters.demo == "all" else filters.demo,
        "quality": "" if filters.quality == "all" else filters.quality,
    }
    return {key: value for key, value in args.items() if value}
