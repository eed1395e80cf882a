"""Lead pages, the web form and rule settings, the lead import, and the public
web-to-lead form. Thin: parse the request, call a service or selector, render."""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from guanxi.accounts.roles import Action, Scope, can, require, role_of
from guanxi.accounts.throttle import client_ip
from guanxi.core import audit_display
from guanxi.core.errors import ServiceError, ValidationFailed
from guanxi.customers.models import Customer, ImportJob
from guanxi.sales import forms_leads, importing_leads, selectors_leads, services_leads
from guanxi.sales.models import Lead, LeadForm
from guanxi.web.decorators import service_errors

PAGE_SIZE = 50


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def _lead(request, pk: int) -> Lead:
    services_leads.require_view(request.user)
    return services_leads.lead_get_for_user(user=request.user, id=pk)


def _error_text(exc: ServiceError) -> str:
    parts = [str(exc.message)]
    for field_messages in exc.field_errors.values():
        parts += field_messages
    return " ".join(parts)


# List ---------------------------------------------------------------------------------------


@service_errors
def lead_list(request):
    require(request.user, Action.VIEW)
    params = {k: v for k, v in request.GET.dict().items() if v != ""}
    sort = params.pop("sort", "-created_at")
    cursor = params.pop("cursor", None)
    errors: dict = {}
    try:
        rows, next_cursor = selectors_leads.lead_list(
            user=request.user, params=params, cursor=cursor, size=PAGE_SIZE, sort=sort
        )
    except ValidationFailed as exc:
        rows, next_cursor, errors = [], None, exc.field_errors
    query = dict(params, sort=sort) if sort != "-created_at" else dict(params)
    context = {
        "rows": rows,
        "errors": [m for ms in errors.values() for m in ms],
        "next_query": urlencode(dict(query, cursor=next_cursor)) if next_cursor else "",
        "first_query": urlencode(query),
        "is_next_page": bool(cursor),
        "filtered": bool(params),
        "can_assign": can(request.user, Action.ASSIGN),
        "owners": forms_leads.owner_choices(request.user)
        if can(request.user, Action.ASSIGN)
        else [],
    }
    if _is_htmx(request):
        response = render(request, "sales/leads/_results.html", context)
        shown = urlencode(dict(query, cursor=cursor)) if cursor else context["first_query"]
        response["HX-Push-Url"] = f"{request.path}?{shown}" if shown else request.path
    else:
        show_owner = role_of(request.user).scope != Scope.OWN
        context.update(
            params=params,
            sort=sort,
            statuses=Lead.Status.choices,
            sources=Customer.Source.choices,
            campaigns=selectors_leads.campaigns(request.user),
            filter_owners=forms_leads.owner_choices(request.user) if show_owner else [],
            show_owner=show_owner,
            can_create=can(request.user, Action.CREATE),
            can_import=can(request.user, Action.IMPORT),
        )
        response = render(request, "sales/leads/list.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@service_errors
def lead_bulk_assign(request):
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    try:
        done = services_leads.leads_assign_bulk(
            actor=request.user, ids=ids, owner=request.POST.get("owner")
        )
    except (ValidationFailed, services_leads.LeadReadOnly) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("%(count)d leads reassigned.") % {"count": len(done)})
    back = request.POST.get("next") or ""
    return redirect(back if back.startswith("/sales/") else "sales:leads")


# Create, edit ------------------------------------------------------------------------------


def _form_page(request, *, lead, data, errors, status=200):
    context = {
        "lead": lead,
        "data": data,
        "errors": errors,
        "rows": [
            {
                "name": name,
                "label": label,
                "type": kind,
                "wide": wide,
                "value": data.get(name) or "",
                "errors": errors.get(name, []),
            }
            for name, label, kind, wide in forms_leads.LEAD_FIELDS
        ],
        "sources": forms_leads.source_choices(),
        "owners": forms_leads.owner_choices(request.user)
        if can(request.user, Action.ASSIGN)
        else [],
    }
    return render(request, "sales/leads/form.html", context, status=status)


@service_errors
def lead_create(request):
    require(request.user, Action.CREATE)
    if request.method == "POST":
        data = forms_leads.lead_data(request.POST, with_owner=can(request.user, Action.ASSIGN))
        try:
            lead = services_leads.lead_create(actor=request.user, data=data)
        except ValidationFailed as exc:
            return _form_page(request, lead=None, data=data, errors=exc.field_errors, status=422)
        messages.success(request, _("Lead “%(name)s” created.") % {"name": lead.name})
        return redirect("sales:lead_detail", pk=lead.pk)
    return _form_page(request, lead=None, data={}, errors={})


@service_errors
def lead_edit(request, pk: int):
    lead = _lead(request, pk)
    require(request.user, Action.CHANGE)
    if lead.is_read_only:
        messages.error(request, str(services_leads.LeadReadOnly().message))
        return redirect("sales:lead_detail", pk=lead.pk)
    if request.method == "POST":
        data = forms_leads.lead_data(request.POST, with_owner=False)
        try:
            services_leads.lead_update(actor=request.user, lead=lead, data=data)
        except ValidationFailed as exc:
            return _form_page(request, lead=lead, data=data, errors=exc.field_errors, status=422)
        messages.success(request, _("Changes saved."))
        return redirect("sales:lead_detail", pk=lead.pk)
    return _form_page(request, lead=lead, data=forms_leads.lead_initial(lead), errors={})


# Detail ---------------------------------------------------------------------------------------


@service_errors
def lead_detail(request, pk: int, *, errors=None, status=200):
    lead = _lead(request, pk)
    context = {
        "lead": lead,
        "activities": selectors_leads.activities_of(user=request.user, lead=lead),
        "tasks": selectors_leads.tasks_of(user=request.user, lead=lead),
        "history": audit_display.change_rows(
            selectors_leads.history_of(lead),
            Lead,
            choices={"source": Customer.Source.choices},
            order=services_leads.AUDITED_FIELDS,  # stored JSON may not keep the order
        ),
        "statuses": [(v, label) for v, label in Lead.Status.choices if v != Lead.Status.CONVERTED],
        "can_change": can(request.user, Action.CHANGE) and not lead.is_read_only,
        "can_assign": can(request.user, Action.ASSIGN) and not lead.is_read_only,
        "can_delete": can(request.user, Action.DELETE) and not lead.is_read_only,
        "owners": forms_leads.owner_choices(request.user),
        "errors": errors or {},
    }
    return render(request, "sales/leads/detail.html", context, status=status)


@require_POST
@service_errors
def lead_status(request, pk: int):
    lead = _lead(request, pk)
    try:
        services_leads.lead_set_status(
            actor=request.user,
            lead=lead,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValidationFailed as exc:
        return lead_detail(request, pk, errors=exc.field_errors, status=422)
    except services_leads.LeadReadOnly as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Status changed."))
    return redirect("sales:lead_detail", pk=pk)


@require_POST
@service_errors
def lead_assign(request, pk: int):
    lead = _lead(request, pk)
    try:
        services_leads.lead_assign(actor=request.user, lead=lead, owner=request.POST.get("owner"))
    except ValidationFailed as exc:
        return lead_detail(request, pk, errors=exc.field_errors, status=422)
    except services_leads.LeadReadOnly as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Lead reassigned."))
    return redirect("sales:lead_detail", pk=pk)


@service_errors
def lead_delete(request, pk: int):
    lead = _lead(request, pk)
    require(request.user, Action.DELETE)
    if request.method == "POST":
        try:
            services_leads.lead_delete(actor=request.user, lead=lead)
        except services_leads.LeadReadOnly as exc:
            messages.error(request, str(exc.message))
            return redirect("sales:lead_detail", pk=pk)
        messages.success(request, _("Lead “%(name)s” deleted.") % {"name": lead.name})
        return redirect("sales:leads")
    return render(request, "sales/leads/delete.html", {"lead": lead})


@service_errors
def lead_convert(request, pk: int):
    lead = _lead(request, pk)
    require(request.user, Action.CHANGE)
    if lead.is_read_only:
        messages.error(request, str(services_leads.LeadReadOnly().message))
        return redirect("sales:lead_detail", pk=pk)
    errors: dict = {}
    data = {"customer": "new", "kind": "person", "create_opportunity": True}
    if request.method == "POST":
        post = request.POST
        data = {
            "customer": post.get("customer", "new"),
            "kind": post.get("kind", "person"),
            "create_opportunity": "create_opportunity" in post,
            "opportunity_name": post.get("opportunity_name", ""),
            "amount": post.get("amount", ""),
            "expected_close": post.get("expected_close", ""),
        }
        customer_id = data["customer"] if data["customer"].isdigit() else None
        try:
            services_leads.lead_convert(
                actor=request.user,
                lead=lead,
                customer_id=customer_id,
                kind=data["kind"],
                create_opportunity=data["create_opportunity"],
                opportunity_name=data["opportunity_name"],
                amount=data["amount"],
                expected_close=data["expected_close"],
            )
        except ValidationFailed as exc:
            errors = exc.field_errors
        else:
            messages.success(request, _("Lead converted."))
            return redirect("sales:lead_detail", pk=pk)
    context = {
        "lead": lead,
        "matches": services_leads.matching_customers(user=request.user, lead=lead),
        "pipeline": services_leads.default_pipeline_first_stage(),
        "data": data,
        "errors": errors,
    }
    return render(request, "sales/leads/convert.html", context, status=422 if errors else 200)


# Web forms (settings) ---------------------------------------------------------------------


@service_errors
def webform_list(request):
    require(request.user, Action.ASSIGN)
    context = {
        "forms": selectors_leads.forms_all(),
        "base_url": request.build_absolute_uri("/f/"),
    }
    return render(request, "sales/leads/webforms.html", context)


def _webform_page(request, *, form, data, errors, status=200):
    context = {
        "webform": form,
        "data": data,
        "errors": errors,
        "sources": forms_leads.source_choices(),
        "embed_url": request.build_absolute_uri(f"/f/{form.slug}/") if form else "",
    }
    return render(request, "sales/leads/webform_form.html", context, status=status)


@service_errors
def webform_create(request):
    require(request.user, Action.ASSIGN)
    if request.method == "POST":
        data = forms_leads.webform_data(request.POST)
        try:
            form = services_leads.leadform_create(actor=request.user, data=data)
        except ValidationFailed as exc:
            return _webform_page(request, form=None, data=data, errors=exc.field_errors, status=422)
        messages.success(request, _("Web form “%(name)s” created.") % {"name": form.name})
        return redirect("sales:lead_webform_edit", pk=form.pk)
    initial = {"ask_company": True, "ask_email": True, "ask_message": True, "active": True}
    return _webform_page(request, form=None, data=initial, errors={})


@service_errors
def webform_edit(request, pk: int):
    form = services_leads.leadform_get(actor=request.user, id=pk)
    if request.method == "POST":
        if "delete" in request.POST:
            services_leads.leadform_delete(actor=request.user, form=form)
            messages.success(request, _("Web form deleted."))
            return redirect("sales:lead_webforms")
        data = forms_leads.webform_data(request.POST)
        try:
            services_leads.leadform_update(actor=request.user, form=form, data=data)
        except ValidationFailed as exc:
            return _webform_page(request, form=form, data=data, errors=exc.field_errors, status=422)
        messages.success(request, _("Changes saved."))
        return redirect("sales:lead_webform_edit", pk=form.pk)
    data = {key: getattr(form, key) for key in forms_leads.FORM_TEXT + forms_leads.FORM_FLAGS}
    return _webform_page(request, form=form, data=data, errors={})


# Assignment rules (settings) ------------------------------------------------------------------


def _rule_page(request, *, rule, data, errors, status=200):
    from guanxi.accounts.models import User

    context = {
        "rule": rule,
        "data": data,
        "errors": errors,
        "sources": forms_leads.source_choices(),
        "teams": forms_leads.teams(),
        "webforms": selectors_leads.forms_all(),
        "users": User.objects.filter(is_active=True, role__in=["sales", "manager", "admin"])
        .select_related("team")
        .order_by("team__name", "username"),
    }
    return render(request, "sales/leads/rule_form.html", context, status=status)


@service_errors
def rule_list(request):
    require(request.user, Action.ASSIGN)
    return render(request, "sales/leads/rules.html", {"rules": selectors_leads.rules_all()})


@service_errors
def rule_create(request):
    require(request.user, Action.ASSIGN)
    if request.method == "POST":
        data = forms_leads.rule_data(request.POST)
        try:
            services_leads.rule_create(actor=request.user, data=data)
        except ValidationFailed as exc:
            return _rule_page(request, rule=None, data=data, errors=exc.field_errors, status=422)
        messages.success(request, _("Assignment rule saved."))
        return redirect("sales:lead_rules")
    return _rule_page(request, rule=None, data={"active": True, "members": []}, errors={})


@service_errors
def rule_edit(request, pk: int):
    rule = services_leads.rule_get(actor=request.user, id=pk)
    if request.method == "POST":
        if "delete" in request.POST:
            services_leads.rule_delete(actor=request.user, rule=rule)
            messages.success(request, _("Assignment rule deleted."))
            return redirect("sales:lead_rules")
        data = forms_leads.rule_data(request.POST)
        try:
            services_leads.rule_update(actor=request.user, rule=rule, data=data)
        except ValidationFailed as exc:
            return _rule_page(request, rule=rule, data=data, errors=exc.field_errors, status=422)
        messages.success(request, _("Assignment rule saved."))
        return redirect("sales:lead_rules")
    data = {
        "name": rule.name,
        "position": rule.position,
        "active": rule.active,
        "team": str(rule.team_id or ""),
        "province": rule.province,
        "source": rule.source,
        "form": str(rule.form_id or ""),
        "members": [str(u.pk) for u in rule.members.all()],
    }
    return _rule_page(request, rule=rule, data=data, errors={})


# Import ---------------------------------------------------------------------------------------


@service_errors
def import_upload(request):
    require(request.user, Action.IMPORT)
    errors: dict = {}
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors = {"file": [_("Choose a CSV or XLSX file.")]}
        else:
            try:
                job = importing_leads.import_start(
                    actor=request.user,
                    fileobj=upload,
                    filename=upload.name,
                    match_by=request.POST.get("match_by", "phone"),
                    skip_bad_rows="skip_bad_rows" in request.POST,
                )
            except ServiceError as exc:
                errors = exc.field_errors or {"file": [str(exc.message)]}
            else:
                return redirect("sales:lead_import_job", pk=job.pk)
    context = {
        "errors": errors,
        "recent": importing_leads.import_recent(user=request.user),
        "columns": importing_leads.COLUMNS,
    }
    return render(request, "sales/leads/import.html", context, status=422 if errors else 200)


@service_errors
def import_job(request, pk: int):
    job = importing_leads.import_get_for_user(user=request.user, id=pk)
    errors: dict = {}
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "remap":
                mapping = {h: request.POST.get(f"map-{i}", "") for i, h in enumerate(job.mapping)}
                importing_leads.import_remap(
                    actor=request.user,
                    job=job,
                    mapping=mapping,
                    match_by=request.POST.get("match_by"),
                )
            elif action == "check":
                importing_leads.import_request_check(job=job)
            elif action == "commit":
                importing_leads.import_request_commit(
                    actor=request.user, job=job, skip_bad_rows="skip_bad_rows" in request.POST
                )
        except ValidationFailed as exc:
            errors = exc.field_errors
        else:
            return redirect("sales:lead_import_job", pk=job.pk)
        job.refresh_from_db()
    report = importing_leads.report(job)
    context = {
        "job": job,
        "report": report,
        "errors": errors,
        "mapping_rows": [(i, h, t) for i, (h, t) in enumerate(job.mapping.items())],
        "targets": importing_leads.mapping_targets(),
        "match_keys": importing_leads.MATCH_KEYS,
        "working": job.status in (ImportJob.Status.VALIDATING, ImportJob.Status.RUNNING),
    }
    return render(request, "sales/leads/import_job.html", context, status=422 if errors else 200)


# The public web-to-lead form ------------------------------------------------------------------

TOKEN_SALT = "guanxi.sales.leadform"
TOKEN_MAX_AGE = 60 * 60 * 6  # a page left open longer is sent again with a fresh token
TOKEN_MIN_SECONDS = 2  # people take longer than this to fill a form; scripts do not
HONEYPOT = "website"


def rate_limit() -> tuple[int, int]:
    """(submissions, minutes) per IP address over all forms."""
    return (
        getattr(settings, "GUANXI_LEAD_FORM_MAX", 5),
        getattr(settings, "GUANXI_LEAD_FORM_MINUTES", 10),
    )


def _token(form: LeadForm) -> str:
    return signing.dumps({"f": form.pk, "at": time.time()}, salt=TOKEN_SALT)


def _token_ok(form: LeadForm, raw: str) -> bool:
    try:
        value = signing.loads(raw or "", salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return False
    if not isinstance(value, dict) or value.get("f") != form.pk:
        return False
    return time.time() - float(value.get("at", 0)) >= TOKEN_MIN_SECONDS


def _public_page(request, form, *, data=None, errors=None, notice="", status=200, done=False):
    context = {
        "form": form,
        "data": data or {},
        "errors": errors or {},
        "notice": notice,
        "token": _token(form),
        "honeypot": HONEYPOT,
        "done": done,
    }
    response = render(request, "sales/leads/public_form.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # posted from other sites' pages (iframes); see the checks below
@xframe_options_exempt  # meant to be embedded
def public_form(request, slug: str):
    """The public web-to-lead form, without login, embeddable in other sites.

    Instead of a CSRF cookie (which a cross-site iframe does not send), a post must
    carry a signed, recent token rendered with this form (at least a few seconds old:
    scripts post at once), leave the hidden honeypot field empty, and come from an
    address that has not sent too many leads lately (counted in the database, so every
    server process agrees). Nothing here acts for a logged-in user, so a forged post
    can do no more than any visitor can."""
    form = LeadForm.objects.filter(slug=slug, active=True).first()
    if form is None:
        raise Http404(_("This form is not available."))
    if request.method != "POST":
        return _public_page(request, form)
    data = {key: request.POST.get(key, "")[:10000] for key in forms_leads.PUBLIC_FIELDS}
    if request.POST.get(HONEYPOT):
        # Looks like success to the robot; nothing is written.
        return _public_page(request, form, done=True)
    if not _token_ok(form, request.POST.get("t", "")):
        return _public_page(
            request,
            form,
            data=data,
            notice=_("The form has expired or was sent too quickly. Please send it again."),
            status=400,
        )
    ip = client_ip(request)
    limit, minutes = rate_limit()
    if services_leads.form_recent_submissions(ip, minutes=minutes) >= limit:
        return _public_page(
            request,
            form,
            data=data,
            notice=_(
                "Too many submissions from your network. Please try again in %(minutes)d minutes."
            )
            % {"minutes": minutes},
            status=429,
        )
    try:
        services_leads.lead_submit_from_form(form=form, data=data, ip=ip)
    except ValidationFailed as exc:
        return _public_page(request, form, data=data, errors=exc.field_errors, status=422)
    return _public_page(request, form, done=True)
