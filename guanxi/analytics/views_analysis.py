"""Pages of the customer analyses: RFM, customer groups, churn, cohorts.

Thin: parse the request, call the analysis, render. Every page shows its charts with the
numbers as tables, and ``?format=csv|xlsx&table=<name>`` downloads a table."""

from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.roles import Action, can, require
from guanxi.analytics import churn, cohorts, groups, rfm, tasks_analysis
from guanxi.analytics.models_analysis import RfmSettings
from guanxi.analytics.reports import export_response
from guanxi.core.errors import ValidationFailed
from guanxi.web.decorators import service_errors

PARAMS_DROPPED = {"format", "table", "cursor", "sort"}


def _export(request, tables):
    """The download asked for by ``?format=``, or None to render the page."""
    fmt = request.GET.get("format")
    if not fmt:
        return None
    try:
        return export_response(
            user=request.user, tables=tables, name=request.GET.get("table"), fmt=fmt
        )
    except ValidationFailed as exc:
        return HttpResponseBadRequest(
            "; ".join(m for msgs in exc.field_errors.values() for m in msgs)
        )


def _int(request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(request.GET.get(name, default))))
    except ValueError:
        return default


def _common(request) -> dict:
    return {
        "can_export": can(request.user, Action.EXPORT),
        "can_manage": can(request.user, Action.MANAGE_SETTINGS),
        "query": urlencode(
            [(k, v) for k, v in request.GET.items() if k not in ("format", "table")]
        ),
    }


@service_errors
def index(request):
    require(request.user, Action.VIEW)
    try:
        clv_url = reverse("analytics:clv")
    except NoReverseMatch:
        clv_url = ""
    try:
        kpi_url = reverse("analytics:kpi")
    except NoReverseMatch:
        kpi_url = ""
    return render(request, "analytics/index.html", {"clv_url": clv_url, "kpi_url": kpi_url})


# ------------------------------------------------------------------------------ RFM


@service_errors
def rfm_page(request, errors: dict | None = None, status: int = 200):
    overview = rfm.rfm_overview(user=request.user)
    tables = [rfm.segment_table(overview), rfm.grid_table(overview)]
    download = _export(request, tables)
    if download:
        return download
    segments = [s for s in overview["segments"] if s["key"]]
    heat = [
        [f - 1, r - 1, overview["grid"][r - 1][f - 1]] for r in range(1, 6) for f in range(1, 6)
    ]
    settings = RfmSettings.load()
    context = {
        **_common(request),
        "overview": overview,
        "segments": overview["segments"],
        "grid_rows": [(r, overview["grid"][r - 1]) for r in range(5, 0, -1)],
        "segment_chart": {
            "labels": [s["label"] for s in segments],
            "series": [
                {"name": _("Customers"), "data": [s["customers"] for s in segments]},
                {
                    "name": _("Revenue"),
                    "data": [float(s["revenue"]) for s in segments],
                    "axis": 1,
                },
            ],
        },
        "grid_chart": {
            "x": [f"F{f}" for f in range(1, 6)],
            "y": [f"R{r}" for r in range(1, 6)],
            "data": heat,
        },
        "bounds": {
            d: ", ".join(str(v) for v in getattr(settings, f"{d}_bounds")) for d in rfm.DIMENSIONS
        },
        "errors": errors or {},
    }
    return render(request, "analytics/rfm.html", context, status=status)


@require_POST
@service_errors
def rfm_recompute(request):
    require(request.user, Action.MANAGE_SETTINGS)
    result = tasks_analysis.rfm_recompute.enqueue()
    if result.is_finished:
        messages.success(request, _("RFM scores recomputed."))
    else:
        messages.success(request, _("RFM recompute queued; refresh in a moment."))
    return redirect("analytics:rfm")


@require_POST
@service_errors
def rfm_settings(request):
    data = {d: request.POST.get(d, "") for d in rfm.DIMENSIONS}
    try:
        rfm.rfm_settings_update(actor=request.user, data=data)
    except ValidationFailed as exc:
        request.method = "GET"
        return rfm_page(request, errors=exc.field_errors, status=422)
    messages.success(request, _("RFM boundaries saved. Recompute to apply them."))
    return redirect("analytics:rfm")


# ------------------------------------------------------------------------------ groups


def _filters_from(request) -> dict:
    return {k: v for k, v in request.GET.items() if v != "" and k not in PARAMS_DROPPED}


def _analysis_page(request, *, filters: dict, group=None):
    try:
        analysis = groups.group_analysis(user=request.user, filters=filters)
    except ValidationFailed as exc:
        return render(
            request,
            "analytics/group.html",
            {**_common(request), "errors": exc.field_errors, "group": group, "filters": filters},
            status=422,
        )
    tables = groups.analysis_tables(analysis)
    download = _export(request, tables)
    if download:
        return download
    dims = []
    for dim, table in zip(analysis["dimensions"], tables, strict=True):
        dims.append(
            {
                **dim,
                "table": table.name,
                "chart_id": f"chart-{dim['key']}",
                "chart": {
                    "labels": [r["label"] for r in dim["rows"]],
                    "series": [
                        {"name": _("Group"), "data": [r["group_share"] for r in dim["rows"]]},
                        {"name": _("All"), "data": [r["all_share"] for r in dim["rows"]]},
                    ],
                },
            }
        )
    context = {
        **_common(request),
        "analysis": analysis,
        "dims": dims,
        "group": group,
        "filters": filters,
        "filter_query": urlencode(filters),
        "can_change": group is not None
        and (group.owner_id == request.user.pk or can(request.user, Action.MANAGE_SETTINGS)),
    }
    return render(request, "analytics/group.html", context)


@service_errors
def groups_page(request):
    saved = groups.groups_for_user(user=request.user)
    return render(request, "analytics/groups.html", {**_common(request), "saved": saved})


@service_errors
def group_analyse(request):
    """Any filter (the customer list's query string), analysed without saving."""
    require(request.user, Action.VIEW)
    return _analysis_page(request, filters=_filters_from(request))


@require_POST
@service_errors
def group_create(request):
    raw = request.POST.get("filters", "").strip()
    # The customer list's address, or just its query string.
    filters = dict(parse_qsl(raw.split("?", 1)[1] if "?" in raw else raw))
    filters = {k: v for k, v in filters.items() if k not in PARAMS_DROPPED}
    try:
        group = groups.group_create(
            actor=request.user,
            data={
                "name": request.POST.get("name", ""),
                "filters": filters,
                "shared": request.POST.get("shared") == "on",
            },
        )
    except ValidationFailed as exc:
        saved = groups.groups_for_user(user=request.user)
        context = {**_common(request), "saved": saved, "errors": exc.field_errors}
        context["form"] = request.POST
        return render(request, "analytics/groups.html", context, status=422)
    messages.success(request, _("Customer group saved."))
    return redirect("analytics:group", pk=group.pk)


@service_errors
def group_detail(request, pk: int):
    group = groups.group_get_for_user(user=request.user, id=pk)
    return _analysis_page(request, filters=group.filters, group=group)


@require_POST
@service_errors
def group_delete(request, pk: int):
    group = groups.group_get_for_user(user=request.user, id=pk)
    groups.group_delete(actor=request.user, group=group)
    messages.success(request, _("Customer group deleted."))
    return redirect("analytics:groups")


# ------------------------------------------------------------------------------ churn


@service_errors
def churn_page(request):
    months = _int(request, "months", 12, 1, 60)
    days = _int(request, "days", 0, 0, 3650) or None
    report = churn.churn_report(user=request.user, months=months, days=days)
    table = churn.churn_table(report)
    download = _export(request, [table])
    if download:
        return download
    rows = report["months"]
    context = {
        **_common(request),
        "report": report,
        "months": months,
        "chart": {
            "labels": [r["month"] for r in rows],
            "series": [
                {"name": _("Churn rate %"), "data": [r["churn_rate"] for r in rows]},
            ],
        },
    }
    return render(request, "analytics/churn.html", context)


@require_POST
@service_errors
def churn_apply(request):
    require(request.user, Action.MANAGE_SETTINGS)
    result = tasks_analysis.apply_churn_rules.enqueue()
    if result.is_finished:
        done = result.return_value
        messages.success(
            request,
            _("Churn rules applied: %(dormant)s dormant, %(lost)s lost.")
            % {"dormant": done["dormant"], "lost": done["lost"]},
        )
    else:
        messages.success(request, _("Churn rules queued."))
    return redirect("analytics:churn")


# ------------------------------------------------------------------------------ cohorts


@service_errors
def cohorts_page(request):
    months = _int(request, "months", 12, 1, 60)
    matrix = cohorts.cohort_matrix(user=request.user, months=months)
    tables = cohorts.cohort_tables(matrix)
    download = _export(request, tables)
    if download:
        return download
    width = max((len(c["rates"]) for c in matrix["cohorts"]), default=0)
    heat = [
        [k, i, rate]
        for i, c in enumerate(matrix["cohorts"])
        for k, rate in enumerate(c["rates"])
        if rate is not None  # a cohort without customers has no rates ("—")
    ]
    context = {
        **_common(request),
        "matrix": matrix,
        "months": months,
        "width": range(width),
        "rows": [
            (
                c,
                list(zip(c["rates"], c["counts"], strict=True))
                + [None] * (width - len(c["rates"])),
            )
            for c in matrix["cohorts"]
        ],
        "chart": {
            "x": [str(k) for k in range(width)],
            "y": [c["month"] for c in matrix["cohorts"]],
            "data": heat,
            "max": 100,
        },
    }
    return render(request, "analytics/cohorts.html", context)
