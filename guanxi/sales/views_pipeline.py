"""Pipeline pages: the kanban board, the opportunity list, detail and form, the funnel
report and the pipeline settings. Thin: parse the request, call a service or selector,
render. Service errors: NotFound → 404, PermissionDenied → 403, ValidationFailed → the
form again (422) with its field errors."""

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.models import Team
from guanxi.accounts.roles import Action, Scope, can, require, role_of
from guanxi.analytics.reports import export_response
from guanxi.core import audit
from guanxi.core.errors import ValidationFailed
from guanxi.core.visibility import visible_to
from guanxi.customers.forms import selectable_users
from guanxi.customers.models import Customer
from guanxi.sales import reports_pipeline, selectors_pipeline, services_pipeline
from guanxi.sales.forms_pipeline import opportunity_data_from_post
from guanxi.sales.models import LostReason, Pipeline, Stage
from guanxi.web.decorators import service_errors


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def _filters(request):
    try:
        return selectors_pipeline.parse_filters(request.GET), []
    except ValidationFailed as exc:
        errors = [m for ms in exc.field_errors.values() for m in ms]
        return selectors_pipeline.Filters(), errors


def _filter_context(request, filters):
    show_people = role_of(request.user).scope != Scope.OWN
    return {
        "filters": filters,
        "filter_query": urlencode(filters.query()),
        "owners": selectable_users(request.user) if show_people else [],
        "teams": Team.objects.order_by("name") if role_of(request.user).scope == Scope.ALL else [],
        "show_people": show_people,
    }


def _urls() -> dict:
    """Address prefixes for the cards (one reverse per page, not two per card)."""
    return {"opportunities": reverse("sales:opportunities")}


def _pipeline_or_default(pk=None) -> Pipeline:
    if pk:
        return get_object_or_404(Pipeline, pk=pk)
    pipeline = services_pipeline.default_pipeline()
    if pipeline is None:
        raise ValidationFailed({"pipeline": [_("Create a pipeline first.")]})
    return pipeline


# Board ---------------------------------------------------------------------------------


@service_errors
def pipeline_home(request):
    require(request.user, Action.VIEW)
    pipeline = _pipeline_or_default()
    return redirect("sales:board", pk=pipeline.pk)


@service_errors
def board(request, pk: int):
    require(request.user, Action.VIEW)
    pipeline = get_object_or_404(Pipeline, pk=pk)
    filters, errors = _filters(request)
    columns = selectors_pipeline.board(request.user, pipeline, filters)
    context = {
        "pipeline": pipeline,
        "pipelines": selectors_pipeline.pipelines_for_board(),
        "columns": columns,
        "totals": selectors_pipeline.board_totals(columns),
        "errors": errors,
        "lost_reasons": LostReason.objects.filter(active=True),
        "can_move": can(request.user, Action.CHANGE),
        "can_create": can(request.user, Action.CREATE),
        "closed_days": selectors_pipeline.CLOSED_DAYS,
        "urls": _urls(),
        **_filter_context(request, filters),
    }
    return render(request, "sales/pipeline/board.html", context)


@service_errors
def board_more(request, pk: int, stage_pk: int):
    require(request.user, Action.VIEW)
    pipeline = get_object_or_404(Pipeline, pk=pk)
    stage = get_object_or_404(pipeline.stages, pk=stage_pk)
    filters, _errors = _filters(request)
    cards, next_cursor = selectors_pipeline.column_cards(
        request.user, pipeline, stage, filters, cursor=request.GET.get("cursor") or None
    )
    return render(
        request,
        "sales/pipeline/_cards.html",
        {
            "pipeline": pipeline,
            "column": {"stage": stage, "cards": cards, "next_cursor": next_cursor},
            "filter_query": urlencode(filters.query()),
            "can_move": can(request.user, Action.CHANGE),
            "urls": _urls(),
        },
    )


@service_errors
@require_POST
def opportunity_move(request, pk: int):
    require(request.user, Action.CHANGE)
    opportunity = services_pipeline.opportunity_get_for_user(request.user, pk)
    try:
        opportunity = services_pipeline.opportunity_move(
            request.user,
            opportunity,
            request.POST.get("stage"),
            lost_reason=request.POST.get("lost_reason") or None,
            note=request.POST.get("note", ""),
        )
    except ValidationFailed as exc:
        message = " ".join(m for ms in exc.field_errors.values() for m in ms)
        return HttpResponse(message, status=422, content_type="text/plain; charset=utf-8")
    if not _is_htmx(request):
        messages.success(request, _("Moved to %(stage)s.") % {"stage": opportunity.stage.name})
        return redirect(request.POST.get("next") or "sales:opportunity_detail", pk=opportunity.pk)
    filters, _errors = _filters(request)
    columns = selectors_pipeline.board(request.user, opportunity.pipeline, filters, size=0)
    return render(
        request,
        "sales/pipeline/_moved.html",
        {
            "columns": columns,
            "totals": selectors_pipeline.board_totals(columns),
            "pipeline": opportunity.pipeline,
        },
    )


# List ----------------------------------------------------------------------------------


@service_errors
def opportunity_list(request):
    require(request.user, Action.VIEW)
    pipeline = _pipeline_or_default(request.GET.get("pipeline") or None)
    filters, errors = _filters(request)
    stage = request.GET.get("stage") or None
    status = request.GET.get("status") or None
    try:
        rows, next_cursor = selectors_pipeline.opportunity_list(
            request.user,
            pipeline,
            filters,
            stage=int(stage) if stage and stage.isdigit() else None,
            status=status,
            cursor=request.GET.get("cursor") or None,
        )
    except ValidationFailed as exc:
        rows, next_cursor = [], None
        errors += [m for ms in exc.field_errors.values() for m in ms]
    query = {**filters.query(), "pipeline": pipeline.pk}
    if stage:
        query["stage"] = stage
    if status:
        query["status"] = status
    context = {
        "pipeline": pipeline,
        "pipelines": selectors_pipeline.pipelines_for_board(),
        "stages": selectors_pipeline.stages_of(pipeline),
        "rows": rows,
        "errors": errors,
        "stage": stage,
        "status": status,
        "statuses": Stage.Kind.choices,
        "next_query": urlencode({**query, "cursor": next_cursor}) if next_cursor else "",
        "is_next_page": bool(request.GET.get("cursor")),
        "can_create": can(request.user, Action.CREATE),
        **_filter_context(request, filters),
    }
    return render(request, "sales/pipeline/list.html", context)


# Detail and form -----------------------------------------------------------------------


@service_errors
def opportunity_detail(request, pk: int):
    require(request.user, Action.VIEW)
    opportunity = services_pipeline.opportunity_get_for_user(request.user, pk)
    context = {
        "opp": opportunity,
        "lines": list(opportunity.lines.select_related("product")),
        "history": selectors_pipeline.stage_history(opportunity),
        "stages": selectors_pipeline.stages_of(opportunity.pipeline),
        "lost_reasons": LostReason.objects.filter(active=True),
        "audit": list(audit.history(model="sales.opportunity", object_id=opportunity.pk)[:50]),
        "can_change": can(request.user, Action.CHANGE),
    }
    return render(request, "sales/pipeline/detail.html", context)


def _form_context(request, opportunity=None, data=None, errors=None):
    from guanxi.commerce.models import Product

    pipeline = (
        opportunity.pipeline
        if opportunity
        else _pipeline_or_default(
            (data or {}).get("pipeline") or request.GET.get("pipeline") or None
        )
    )
    customer = opportunity.customer if opportunity else None
    raw_customer = (data or {}).get("customer") or request.GET.get("customer")
    if customer is None and raw_customer and str(raw_customer).isdigit():
        customer = visible_to(request.user, Customer.objects.filter(pk=int(raw_customer))).first()
    return {
        "opp": opportunity,
        "data": data or {},
        "errors": errors or {},
        "line_errors": {k: v for k, v in (errors or {}).items() if k.startswith("lines")},
        "customer": customer,
        "pipeline": pipeline,
        "pipelines": selectors_pipeline.pipelines_for_board(),
        "open_stages": [s for s in selectors_pipeline.stages_of(pipeline) if s.kind == "open"],
        "products": Product.objects.filter(active=True).order_by("sku")[:500],
        "owners": selectable_users(request.user) if can(request.user, Action.ASSIGN) else [],
        "lines": (data or {}).get("lines")
        if data and data.get("lines") is not None
        else (list(opportunity.lines.all().values()) if opportunity else []),
    }


@service_errors
def opportunity_create(request):
    require(request.user, Action.CREATE)
    if request.method == "POST":
        data = opportunity_data_from_post(request.POST)
        try:
            opportunity = services_pipeline.opportunity_create(request.user, data)
        except ValidationFailed as exc:
            context = _form_context(request, data=data, errors=exc.field_errors)
            return render(request, "sales/pipeline/form.html", context, status=422)
        messages.success(request, _("Opportunity created."))
        return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return render(request, "sales/pipeline/form.html", _form_context(request))


@service_errors
def opportunity_edit(request, pk: int):
    require(request.user, Action.CHANGE)
    opportunity = services_pipeline.opportunity_get_for_user(request.user, pk)
    if request.method == "POST":
        data = opportunity_data_from_post(request.POST, partial=True)
        try:
            services_pipeline.opportunity_update(request.user, opportunity, data)
        except ValidationFailed as exc:
            context = _form_context(request, opportunity, data=data, errors=exc.field_errors)
            return render(request, "sales/pipeline/form.html", context, status=422)
        messages.success(request, _("Changes saved."))
        return redirect("sales:opportunity_detail", pk=opportunity.pk)
    data = {
        "name": opportunity.name,
        "amount": opportunity.amount,
        "currency": opportunity.currency,
        "expected_close": opportunity.expected_close.isoformat()
        if opportunity.expected_close
        else "",
        "next_step": opportunity.next_step,
        "owner": opportunity.owner_id,
    }
    return render(request, "sales/pipeline/form.html", _form_context(request, opportunity, data))


@service_errors
def customer_options(request):
    """<option>s of the customers the user may see whose name starts like ``q``."""
    require(request.user, Action.VIEW)
    q = (request.GET.get("customer_q") or "").strip()
    rows = []
    if q:
        qs = visible_to(request.user, Customer.objects.all())
        if q.isdigit():
            rows = list(qs.filter(pk=int(q))[:1])
        rows += list(qs.filter(name__startswith=q).order_by("name")[:20])
    return render(request, "sales/pipeline/_customer_options.html", {"rows": rows})


# Funnel --------------------------------------------------------------------------------


@service_errors
def funnel(request):
    require(request.user, Action.VIEW)
    pipeline = _pipeline_or_default(request.GET.get("pipeline") or None)
    filters, errors = _filters(request)
    try:
        start, end = selectors_pipeline.funnel_period(request.GET)
    except ValidationFailed as exc:
        errors += [m for ms in exc.field_errors.values() for m in ms]
        start, end = selectors_pipeline.funnel_period({})
    result = selectors_pipeline.funnel(request.user, pipeline, filters, start, end)
    tables = reports_pipeline.funnel_tables(result)
    if request.GET.get("format"):
        return export_response(
            user=request.user,
            tables=tables,
            name=request.GET.get("table"),
            fmt=request.GET["format"],
        )
    query = {**filters.query(), "pipeline": pipeline.pk, "start": start, "end": end}
    chart = [
        {"label": row.stage.name, "n": row.count, "amount": float(row.amount)}
        for row in result.rows
    ]
    context = {
        "pipeline": pipeline,
        "pipelines": selectors_pipeline.pipelines_for_board(),
        "result": result,
        "errors": errors,
        "start": start,
        "end": end,
        "chart": json.dumps(chart, ensure_ascii=False),
        "query": urlencode(query),
        "table": tables[0].name,
        "can_export": can(request.user, Action.EXPORT),
        **_filter_context(request, filters),
    }
    return render(request, "sales/pipeline/funnel.html", context)


# Settings ------------------------------------------------------------------------------


@service_errors
def pipeline_settings(request):
    require(request.user, Action.MANAGE_SETTINGS)
    return render(
        request,
        "sales/pipeline/settings.html",
        {
            "pipelines": Pipeline.objects.prefetch_related("stages").order_by("position", "id"),
            "reasons": LostReason.objects.all(),
        },
    )


def _stages_from_post(post) -> list[dict]:
    ids = post.getlist("stage_id")
    names = post.getlist("stage_name")
    kinds = post.getlist("stage_kind")
    probabilities = post.getlist("stage_probability")
    stages = []
    for i, name in enumerate(names):
        if not name.strip() and not (ids[i] if i < len(ids) else ""):
            continue
        stages.append(
            {
                "id": ids[i] if i < len(ids) and ids[i] else None,
                "name": name,
                "kind": kinds[i] if i < len(kinds) else "open",
                "probability": probabilities[i] if i < len(probabilities) else "",
            }
        )
    return stages


@service_errors
def pipeline_edit(request, pk: int | None = None):
    require(request.user, Action.MANAGE_SETTINGS)
    pipeline = get_object_or_404(Pipeline, pk=pk) if pk else None
    errors: dict = {}
    if request.method == "POST":
        data = {
            "name": request.POST.get("name", ""),
            "is_default": bool(request.POST.get("is_default")),
            "active": bool(request.POST.get("active")),
            "stages": _stages_from_post(request.POST),
        }
        try:
            if pipeline is None:
                pipeline = services_pipeline.pipeline_create(request.user, data)
            else:
                services_pipeline.pipeline_update(request.user, pipeline, data)
        except ValidationFailed as exc:
            errors = exc.field_errors
            stages = data["stages"]
        else:
            messages.success(request, _("Pipeline saved."))
            return redirect("sales:pipeline_settings")
    else:
        data = {
            "name": pipeline.name if pipeline else "",
            "is_default": pipeline.is_default if pipeline else False,
            "active": pipeline.active if pipeline else True,
        }
        stages = (
            [
                {"id": s.pk, "name": s.name, "kind": s.kind, "probability": s.probability}
                for s in pipeline.stages.order_by("position", "id")
            ]
            if pipeline
            else [
                {"id": None, "name": "", "kind": "open", "probability": 10},
                {"id": None, "name": "", "kind": "won", "probability": 100},
                {"id": None, "name": "", "kind": "lost", "probability": 0},
            ]
        )
    return render(
        request,
        "sales/pipeline/pipeline_form.html",
        {
            "pipeline": pipeline if pipeline and pipeline.pk else None,
            "data": data,
            "stages": stages,
            "kinds": Stage.Kind.choices,
            "errors": errors,
            "all_errors": [m for ms in errors.values() for m in ms],
        },
        status=422 if errors else 200,
    )


@service_errors
@require_POST
def lost_reason_save(request, pk: int | None = None):
    require(request.user, Action.MANAGE_SETTINGS)
    reason = get_object_or_404(LostReason, pk=pk) if pk else None
    data = {"name": request.POST.get("name", "")}
    if reason is not None:
        data["active"] = bool(request.POST.get("active"))
    try:
        services_pipeline.lost_reason_save(request.user, data, instance=reason)
    except ValidationFailed as exc:
        for ms in exc.field_errors.values():
            for m in ms:
                messages.error(request, m)
    else:
        messages.success(request, _("Lost reason saved."))
    return redirect("sales:pipeline_settings")
