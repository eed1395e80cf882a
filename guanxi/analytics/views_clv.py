"""The customer lifetime value page: the last fit, the distribution of predicted CLV, the
high-potential customers, a "refit now" button and the exports. Thin: the numbers come
from ``clv_service``."""

from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.roles import Action, can, require
from guanxi.analytics import clv_service, reports
from guanxi.core.errors import ValidationFailed
from guanxi.web.decorators import service_errors

PAGE_SIZE = 50


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def _high_potential_context(request) -> dict:
    cursor = request.GET.get("cursor") or None
    errors = []
    try:
        rows, next_cursor = clv_service.high_potential(
            user=request.user, cursor=cursor, size=PAGE_SIZE
        )
    except ValidationFailed as exc:
        rows, next_cursor = [], None
        errors = [m for ms in exc.field_errors.values() for m in ms]
    return {
        "rows": rows,
        "next_cursor": next_cursor,
        "is_next_page": bool(cursor),
        "hp_errors": errors,
    }


@service_errors
def clv_page(request):
    require(request.user, Action.VIEW)
    context = _high_potential_context(request)
    if _is_htmx(request):
        response = render(request, "analytics/_clv_high_potential.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    distribution = clv_service.clv_distribution(user=request.user)
    threshold = clv_service.high_potential_threshold()
    fit = clv_service.last_fit()
    context.update(
        fit=fit,
        fit_options=_fit_options(fit),
        summary=clv_service.clv_summary(user=request.user),
        distribution=distribution,
        chart=[
            {
                "label": f"{b['low']}–{b['high']}" if b["high"] is not None else f"≥ {b['low']}",
                "n": b["customers"],
            }
            for b in distribution
        ],
        threshold=threshold,
        high_potential_total=clv_service.high_potential_count(
            user=request.user, threshold=threshold
        ),
        max_orders=clv_service.HIGH_POTENTIAL_MAX_ORDERS,
        share_percent=round(clv_service.HIGH_POTENTIAL_SHARE * 100),
        refit=clv_service.refit_state(),
        can_refit=clv_service.can_refit(request.user),
        can_export=can(request.user, Action.EXPORT),
    )
    response = render(request, "analytics/clv.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _fit_options(fit) -> dict:
    """The fit's margin and discount rate as percentages (None when not recorded)."""

    def percent(value):
        return None if value is None else value * 100

    return {
        "margin_percent": percent(fit.margin) if fit else None,
        "discount_percent": percent(fit.monthly_discount_rate) if fit else None,
    }


@require_POST
@service_errors
def clv_refit(request):
    outcome = clv_service.request_refit(actor=request.user)
    if outcome == "already_queued":
        messages.info(request, _("A refit is already waiting or running."))
    else:
        messages.success(
            request, _("The refit has been queued; the figures update when it has run.")
        )
    return redirect("analytics:clv")


@service_errors
def clv_export(request):
    require(request.user, Action.EXPORT)
    name = request.GET.get("table") or clv_service.REPORT_TABLES[0]
    fmt = request.GET.get("format", "csv")
    if name not in clv_service.REPORT_TABLES or fmt not in reports.FORMATS:
        return HttpResponseBadRequest(
            _("Unknown export: table must be one of %(tables)s, format csv or xlsx.")
            % {"tables": ", ".join(clv_service.REPORT_TABLES)}
        )
    tables = clv_service.report_tables(user=request.user, only=name)
    return reports.export_response(user=request.user, tables=tables, name=name, fmt=fmt)
