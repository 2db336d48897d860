"""The coach's dashboard: KPIs, funnel, scores, bottlenecks, profile, timeline, and its charts.

`quiz.coach.stats` computes the figures, `quiz.charts` draws them; both are kept for
`quiz.caches.CHART_SECONDS` in the app's chart cache, per filter.
"""

from __future__ import annotations

from datetime import date

from flask import (
    Response,
    abort,
    get_template_attribute,
    make_response,
    render_template,
    request,
)

from quiz import caches, charts
from quiz.app_state import get_content
from quiz.coach import sources, stats
from quiz.web.coach import params

CHART_NAMES = ("funnel", "scores", "bottlenecks", "profile", "timeline")


def clear_cache() -> None:
    """Forget cached figures and charts, and every other cached value (tests, benchmarks)."""
    caches.clear_all()


def _figures(filters: stats.Filters) -> stats.Dashboard:
    content = get_content()
    labels = [page.title for page in content.pages]
    labels.append(get_template_attribute("coach/labels.html", "CONTACT_STEP"))
    dimensions = [d.id for d in content.dimensions]
    figures: stats.Dashboard = caches.current().coach_charts.get_or_make(
        ("dashboard", filters.cache_key()),
        lambda: stats.dashboard(filters, labels, dimensions),
    )
    return figures


def _sort() -> tuple[str, bool]:
    """The source table's order from the query string (an unknown one: visits, descending).

    Its own names (`by`, `order`): `sort` is the leads list's filter, checked by params.
    """
    sort = request.args.get("by", sources.DEFAULT_SORT)
    if sort not in sources.SORT_KEYS:
        sort = sources.DEFAULT_SORT
    return sort, request.args.get("order") != "asc"


def _source_rows(filters: stats.Filters, sort: str, descending: bool) -> list[sources.SourceRow]:
    rows: list[sources.SourceRow] = caches.current().coach_charts.get_or_make(
        ("sources", filters.cache_key(), sort, descending),
        lambda: sources.source_rows(filters, sort, descending),
    )
    return rows


def dashboard() -> str:
    """The aggregate view: KPIs, funnel, scores, bottlenecks, profile, timeline, consents, mail,
    and the conversion per traffic source."""
    filters = params.current_filters()
    figures = _figures(filters)
    sort, descending = _sort()
    rows = _source_rows(filters, sort, descending)
    campaigns, versions = stats.filter_choices()
    content = get_content()
    return render_template(
        "coach/dashboard.html",
        figures=figures,
        filters=filters,
        args=params.filter_args(filters),
        campaigns=campaigns,
        versions=versions,
        names={d.id: d.name for d in content.dimensions},
        no_campaign=stats.NO_CAMPAIGN,
        chart_names=CHART_NAMES,
        source_rows=rows,
        source_total=sources.total(rows),
        sort=sort,
        descending=descending,
    )


def sources_csv() -> Response:
    """The conversion per source as CSV (the dashboard's filters and order; 400 on a bad filter)."""
    filters = params.strict_filters()
    sort, descending = _sort()
    rows = sources.source_rows(filters, sort, descending)
    header = get_template_attribute("coach/labels.html", "SOURCE_CSV_HEADER")
    none_label = get_template_attribute("coach/labels.html", "NO_SOURCE")
    response = make_response("".join(sources.csv_text(rows, header, none_label)))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    stamp = date.today().isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="quellen-{stamp}.csv"'
    return response


def chart(name: str) -> Response:
    """One dashboard chart for the current filters, cached briefly per worker."""
    if name not in CHART_NAMES:
        abort(404)
    filters = params.strict_filters()
    png = caches.current().coach_charts.get_or_make(
        ("chart", name, filters.cache_key()), lambda: _render_chart(name, _figures(filters))
    )
    response = make_response(png)
    response.headers["Content-Type"] = "image/png"
    return response


def _render_chart(name: str, figures: stats.Dashboard) -> bytes:
    names = {d.id: d.name for d in get_content().dimensions}
    if name == "funnel":
        items = [charts.LabelledValue(step.label, step.count) for step in figures.funnel]
        return charts.hbar_chart_png(items)
    if name == "scores":
        rows = [charts.Distribution(names[d.dimension], d.buckets) for d in figures.dimensions]
        return charts.distribution_chart_png(rows)
    if name == "bottlenecks":
        top = max((d.bottleneck_count for d in figures.dimensions), default=0)
        items = [
            charts.LabelledValue(
                names[d.dimension], d.bottleneck_count, top > 0 and d.bottleneck_count == top
            )
            for d in figures.dimensions
        ]
        return charts.hbar_chart_png(items)
    if name == "profile":
        items = [
            charts.LabelledValue(names[d.dimension], round(d.average or 0, 1))
            for d in figures.dimensions
        ]
        return charts.hbar_chart_png(items, xmax=100, value_format="{:.1f}")
    fmt = "%d.%m." if figures.timeline_unit == "day" else "%d.%m.%y"
    items = [charts.LabelledValue(day.strftime(fmt), count) for day, count in figures.timeline]
    return charts.column_chart_png(items)
