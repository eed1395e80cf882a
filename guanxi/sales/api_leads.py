"""Leads, web-to-lead forms, assignment rules and the lead import over /api/v1.

Fixed paths (/leads/import, /leads/assign) come before /leads/{id}."""

import datetime
import decimal
import json

from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from guanxi.accounts.roles import Action, require
from guanxi.api import import_jobs as flows
from guanxi.api.import_jobs import RowError
from guanxi.core.errors import ValidationFailed
from guanxi.customers.api import ERRORS, AuditOut, InputSchema
from guanxi.sales import importing_leads, selectors_leads, services_leads

router = Router(tags=["leads"])


class LeadOut(Schema):
    id: int
    name: str
    company: str
    job_title: str
    phone: str
    email: str
    province: str
    city: str
    source: str
    campaign: str
    form_id: int | None
    message: str
    status: str
    disqualify_reason: str
    external_id: str | None
    owner_id: int | None
    team_id: int | None
    customer_id: int | None
    opportunity_id: int | None
    converted_at: datetime.datetime | None
    read_only: bool
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_read_only(obj):
        return obj.is_read_only


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None


class LeadIn(InputSchema):
    name: str | None = None
    company: str | None = None
    job_title: str | None = None
    phone: str | None = None
    email: str | None = None
    province: str | None = None
    city: str | None = None
    source: str | None = None
    campaign: str | None = None
    form: int | str | None = None
    message: str | None = None
    status: str | None = None
    disqualify_reason: str | None = None
    external_id: str | None = None
    owner: int | str | None = Field(None, description='A user id or username, or "auto".')


class LeadFilters(Schema):
    q: str | None = None
    status: str | None = None
    source: str | None = None
    owner: str | None = None
    campaign: str | None = None
    form: str | None = None
    created_after: datetime.date | None = None
    created_before: datetime.date | None = None
    sort: str = "-created_at"
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class StatusIn(InputSchema):
    status: str
    reason: str = ""


class AssignIn(InputSchema):
    owner: int | str


class BulkAssignIn(InputSchema):
    ids: list[int]
    owner: int | str


class MatchOut(Schema):
    id: int
    name: str
    phone: str
    email: str
    owner_id: int | None


class ConvertIn(InputSchema):
    customer_id: int | None = Field(None, description="An existing customer; empty: a new one.")
    kind: str = "person"
    create_opportunity: bool = False
    opportunity_name: str = ""
    amount: decimal.Decimal | None = None
    expected_close: datetime.date | None = None


class LeadFormOut(Schema):
    id: int
    slug: str
    name: str
    title: str
    intro: str
    thank_you: str
    source: str
    campaign: str
    ask_company: bool
    ask_email: bool
    ask_message: bool
    active: bool
    url: str

    @staticmethod
    def resolve_url(obj):
        from django.urls import reverse

        return reverse("sales_public:lead_form", args=[obj.slug])


class LeadFormIn(InputSchema):
    slug: str | None = None
    name: str | None = None
    title: str | None = None
    intro: str | None = None
    thank_you: str | None = None
    source: str | None = None
    campaign: str | None = None
    ask_company: bool | None = None
    ask_email: bool | None = None
    ask_message: bool | None = None
    active: bool | None = None


class RuleOut(Schema):
    id: int
    name: str
    position: int
    active: bool
    team_id: int | None
    province: str
    source: str
    form_id: int | None
    members: list[int]
    last_assigned_id: int | None

    @staticmethod
    def resolve_members(obj):
        return sorted(u.pk for u in obj.members.all())


class RuleIn(InputSchema):
    name: str | None = None
    position: int | None = None
    active: bool | None = None
    team: int | str | None = None
    province: str | None = None
    source: str | None = None
    form: int | str | None = None
    members: list[int | str] | None = None


class ImportReport(Schema):
    job_id: int
    status: str
    filename: str
    match_by: str
    skip_bad_rows: bool
    total_rows: int
    processed_rows: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    errors: list[RowError]
    message: str
    mapping: dict[str, str]


IMPORT_FLOW = flows.ImportFlow(
    check=lambda job: importing_leads.import_check(job=job),
    commit=lambda job: importing_leads.import_commit(job=job, progress=False),
    request_commit=importing_leads.import_request_commit,
    runs_in_background=importing_leads.runs_in_background,
    report=importing_leads.report,
)


def _payload(data: Schema) -> dict:
    return data.dict(exclude_unset=True)


# Import (fixed paths first) -------------------------------------------------------------


@router.post(
    "/leads/import",
    response={**ERRORS, 200: ImportReport, 201: ImportReport, 202: ImportReport, 422: dict},
    summary="Import leads from CSV or XLSX",
)
def import_leads(
    request,
    file: File[UploadedFile],
    match_by: Form[str] = "phone",
    skip_bad_rows: Form[bool] = False,
    dry_run: Form[bool] = False,
    mapping: Form[str] = "",
):
    """Rows are checked with the rules of the API; all or nothing unless
    ``skip_bad_rows``. ``match_by`` (phone, email or external_id) finds leads already
    there, so importing a file twice changes nothing. ``mapping`` is optional JSON
    {"column": "field" or ""}. 200 for a dry run, 201 when written, 202 when a large
    file was queued (poll GET /leads/import/{id}), 422 with the report when rows are bad."""
    parsed = None
    if mapping:
        try:
            parsed = json.loads(mapping)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ValidationFailed({"mapping": ['{"column": "field"}']})
    job = importing_leads.import_start(
        actor=request.user,
        fileobj=file,
        filename=file.name,
        match_by=match_by,
        skip_bad_rows=skip_bad_rows,
        mapping=parsed,
    )
    return flows.run(IMPORT_FLOW, job, actor=request.user, dry_run=dry_run)


@router.get("/leads/import/{job_id}", response={200: ImportReport, **ERRORS})
def get_import(request, job_id: int):
    job = importing_leads.import_get_for_user(user=request.user, id=job_id)
    return importing_leads.report(job)


@router.post("/leads/assign", response={200: list[LeadOut], **ERRORS}, summary="Reassign leads")
def assign_many(request, data: BulkAssignIn):
    """All or nothing: every lead must be visible to you and not converted."""
    return services_leads.leads_assign_bulk(actor=request.user, ids=data.ids, owner=data.owner)


# Web-to-lead forms ------------------------------------------------------------------------


@router.get("/lead-forms", response={200: list[LeadFormOut], **ERRORS})
def list_forms(request):
    require(request.user, Action.ASSIGN)
    return list(selectors_leads.forms_all())


@router.post("/lead-forms", response={201: LeadFormOut, **ERRORS})
def create_form(request, data: LeadFormIn):
    return Status(201, services_leads.leadform_create(actor=request.user, data=_payload(data)))


@router.get("/lead-forms/{form_id}", response={200: LeadFormOut, **ERRORS})
def get_form(request, form_id: int):
    return services_leads.leadform_get(actor=request.user, id=form_id)


@router.patch("/lead-forms/{form_id}", response={200: LeadFormOut, **ERRORS})
def update_form(request, form_id: int, data: LeadFormIn):
    form = services_leads.leadform_get(actor=request.user, id=form_id)
    return services_leads.leadform_update(actor=request.user, form=form, data=_payload(data))


@router.delete("/lead-forms/{form_id}", response={204: None, **ERRORS})
def delete_form(request, form_id: int):
    form = services_leads.leadform_get(actor=request.user, id=form_id)
    services_leads.leadform_delete(actor=request.user, form=form)
    return Status(204, None)


# Assignment rules -------------------------------------------------------------------------


@router.get("/assignment-rules", response={200: list[RuleOut], **ERRORS})
def list_rules(request):
    require(request.user, Action.ASSIGN)
    return list(selectors_leads.rules_all())


@router.post("/assignment-rules", response={201: RuleOut, **ERRORS})
def create_rule(request, data: RuleIn):
    return Status(201, services_leads.rule_create(actor=request.user, data=_payload(data)))


@router.patch("/assignment-rules/{rule_id}", response={200: RuleOut, **ERRORS})
def update_rule(request, rule_id: int, data: RuleIn):
    rule = services_leads.rule_get(actor=request.user, id=rule_id)
    return services_leads.rule_update(actor=request.user, rule=rule, data=_payload(data))


@router.delete("/assignment-rules/{rule_id}", response={204: None, **ERRORS})
def delete_rule(request, rule_id: int):
    rule = services_leads.rule_get(actor=request.user, id=rule_id)
    services_leads.rule_delete(actor=request.user, rule=rule)
    return Status(204, None)


# Leads ------------------------------------------------------------------------------------


@router.get("/leads", response={200: LeadPage, **ERRORS}, summary="List leads")
def list_leads(request, filters: Query[LeadFilters]):
    """Keyset-paginated: pass ``next_cursor`` back as ``cursor`` for the next page."""
    services_leads.require_view(request.user)
    params = filters.dict(exclude_none=True)
    rows, next_cursor = selectors_leads.lead_list(
        user=request.user,
        params=params,
        cursor=filters.cursor,
        size=filters.limit,
        sort=filters.sort,
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/leads", response={201: LeadOut, **ERRORS})
def create_lead(request, data: LeadIn):
    return Status(201, services_leads.lead_create(actor=request.user, data=_payload(data)))


def _lead(request, lead_id: int):
    services_leads.require_view(request.user)
    return services_leads.lead_get_for_user(user=request.user, id=lead_id)


@router.get("/leads/{lead_id}", response={200: LeadOut, **ERRORS})
def get_lead(request, lead_id: int):
    return _lead(request, lead_id)


@router.patch("/leads/{lead_id}", response={**ERRORS, 200: LeadOut, 409: dict})
def update_lead(request, lead_id: int, data: LeadIn):
    lead = _lead(request, lead_id)
    return services_leads.lead_update(actor=request.user, lead=lead, data=_payload(data))


@router.delete("/leads/{lead_id}", response={**ERRORS, 204: None, 409: dict})
def delete_lead(request, lead_id: int):
    services_leads.lead_delete(actor=request.user, lead=_lead(request, lead_id))
    return Status(204, None)


@router.post("/leads/{lead_id}/status", response={**ERRORS, 200: LeadOut, 409: dict})
def set_status(request, lead_id: int, data: StatusIn):
    """new, contacted, qualified or disqualified (with a ``reason``)."""
    lead = _lead(request, lead_id)
    return services_leads.lead_set_status(
        actor=request.user, lead=lead, status=data.status, reason=data.reason
    )


@router.post("/leads/{lead_id}/assign", response={**ERRORS, 200: LeadOut, 409: dict})
def assign(request, lead_id: int, data: AssignIn):
    lead = _lead(request, lead_id)
    return services_leads.lead_assign(actor=request.user, lead=lead, owner=data.owner)


@router.get("/leads/{lead_id}/matches", response={200: list[MatchOut], **ERRORS})
def matches(request, lead_id: int):
    """Customers you may see with the lead's phone or e-mail (to convert onto)."""
    lead = _lead(request, lead_id)
    return services_leads.matching_customers(user=request.user, lead=lead)


@router.post("/leads/{lead_id}/convert", response={**ERRORS, 200: LeadOut, 409: dict})
def convert(request, lead_id: int, data: ConvertIn):
    lead = _lead(request, lead_id)
    return services_leads.lead_convert(
        actor=request.user,
        lead=lead,
        customer_id=data.customer_id,
        kind=data.kind,
        create_opportunity=data.create_opportunity,
        opportunity_name=data.opportunity_name,
        amount=data.amount,
        expected_close=data.expected_close,
    )


@router.get("/leads/{lead_id}/audit", response={200: list[AuditOut], **ERRORS})
def lead_audit(request, lead_id: int):
    return selectors_leads.history_of(_lead(request, lead_id))
