"""The KPI dashboard page and its exports. Thin: parse the request, call
``kpi.kpi_report`` (the same service as ``GET /api/v1/kpi``), render."""

from urllib.parse import urlencode

from django.shortcuts import render

from guanxi.accounts.roles import Action, can, require
from guanxi.analytics import kpi, reports
from guanxi.commerce.models import Store
from guanxi.core.errors import ValidationFailed
from guanxi.web.decorators import service_errors


def _chart(report: kpi.Report) -> dict:
    return {
        "dates": [d["date"].isoformat() for d in report.trend],
        "sales": [str(d["sales"]) for d in report.trend],
        "orders": [d["orders"] for d in report.trend],
    }


@service_errors
def kpi_page(request):
    require(request.user, Action.VIEW)
    params = {k: v.strip() for k, v in request.GET.items()}
    errors: dict = {}
    try:
        report = kpi.kpi_report(
            user=request.user,
            preset=params.get("period", ""),
            start=params.get("start"),
            end=params.get("end"),
            store=params.get("store"),
        )
    except ValidationFailed as exc:
        errors = exc.field_errors
        report = kpi.kpi_report(user=request.user)
    fmt = params.get("format")
    if fmt and not errors:
        return reports.export_response(
            user=request.user,
            tables=kpi.report_tables(report),
            name=params.get("table"),
            fmt=fmt,
        )
    query = {
        "period": report.preset,
        "start": report.period.start.isoformat(),
        "end": report.period.end.isoformat(),
        "store": report.store.pk if report.store else "",
    }
    context = {
        "report": report,
        "rows": report.rows(),
        "tree": report.tree(),
        "trend": report.trend,
        "chart": _chart(report),
        "presets": list(kpi.PRESETS.items()),
        "stores": Store.objects.order_by("name"),
        "query": query,
        "export_query": urlencode({k: v for k, v in query.items() if v != ""}),
        "errors": [m for messages in errors.values() for m in messages],
        "can_export": can(request.user, Action.EXPORT),
    }
    return render(request, "analytics/kpi.html", context)
