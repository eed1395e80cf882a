"""Customers, contacts, tags and custom fields over /api/v1: parse → service → schema."""

import datetime

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import model_validator
from pydantic_core import PydanticCustomError

from guanxi.accounts.roles import Action, require
from guanxi.core import audit
from guanxi.core.timeline import timeline_for
from guanxi.customers import selectors, services
from guanxi.customers.models import CustomField, Tag

router = Router(tags=["customers"])


class ErrorOut(Schema):
    code: str
    message: str
    errors: dict[str, list[str]] = {}


class InputSchema(Schema):
    """A request body: must be a JSON object (ninja would read a list or a string as an
    object with every field missing)."""

    @model_validator(mode="before")
    @classmethod
    def _must_be_an_object(cls, data):
        # ninja's own validator has wrapped the body in a DjangoGetter by now.
        if not isinstance(getattr(data, "_obj", data), dict):
            raise PydanticCustomError("not_an_object", str(_("Send a JSON object.")))
        return data


class TagOut(Schema):
    id: int
    name: str
    color: str


class ConsentOut(Schema):
    channel: str
    granted: bool
    at: datetime.datetime
    source: str


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    name_pinyin: str
    phone: str
    phones_extra: list[str]
    email: str
    emails_extra: list[str]
    gender: str
    birthday: datetime.date | None
    province: str
    city: str
    district: str
    address: str
    source: str
    stage: str
    grade: str
    tags: list[str]
    notes: str
    external_id: str | None
    custom: dict
    owner_id: int | None
    team_id: int | None
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_tags(obj):
        return [t.name for t in obj.tags.all()]


class CustomerDetailOut(CustomerOut):
    consents: list[ConsentOut]
    contacts_count: int

    @staticmethod
    def resolve_consents(obj):
        return list(obj.consents.all())

    @staticmethod
    def resolve_contacts_count(obj):
        return obj.contacts.count()


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_cursor: str | None


class CustomerIn(InputSchema):
    kind: str | None = None
    name: str | None = None
    phone: str | None = None
    phones_extra: list[str] | None = None
    email: str | None = None
    emails_extra: list[str] | None = None
    gender: str | None = None
    birthday: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address: str | None = None
    source: str | None = None
    stage: str | None = None
    grade: str | None = None
    tags: list[str] | None = None
    notes: str | None = None
    external_id: str | None = None
    custom: dict | None = None
    owner: int | str | None = None


class ConsentIn(InputSchema):
    channel: str
    granted: bool
    source: str = ""


class ContactOut(Schema):
    id: int
    customer_id: int
    name: str
    title: str
    phone: str
    email: str
    is_primary: bool
    notes: str


class ContactIn(InputSchema):
    name: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    is_primary: bool | None = None
    notes: str | None = None


class TagIn(InputSchema):
    name: str | None = None
    color: str | None = None


class CustomFieldOut(Schema):
    id: int
    key: str
    label: str
    type: str
    choices: list
    required: bool
    position: int
    active: bool


class CustomFieldIn(InputSchema):
    key: str | None = None
    label: str | None = None
    type: str | None = None
    choices: list[str] | None = None
    required: bool | None = None
    position: int | None = None
    active: bool | None = None


class AuditOut(Schema):
    id: int
    at: datetime.datetime
    actor: str | None
    action: str
    model: str
    object_id: int
    changes: dict
    note: str

    @staticmethod
    def resolve_actor(obj):
        return obj.actor.username if obj.actor else None


class TimelineOut(Schema):
    at: datetime.datetime
    kind: str
    title: str
    body: str
    url: str
    actor: str


class CustomerFilters(Schema):
    q: str | None = None
    stage: str | None = None
    grade: str | None = None
    tag: str | None = None
    owner: str | None = None
    team: str | None = None
    province: str | None = None
    city: str | None = None
    source: str | None = None
    kind: str | None = None
    created_after: datetime.date | None = None
    created_before: datetime.date | None = None
    sort: str = "-created_at"
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


def custom_filter_params(request) -> dict:
    """Custom field filters arrive as ``cf_<key>=value`` query parameters."""
    return {k: v for k, v in request.GET.items() if k.startswith("cf_")}


def _payload(data: Schema) -> dict:
    return data.dict(exclude_unset=True)


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get("/customers", response={200: CustomerPage, **ERRORS}, summary="List customers")
def list_customers(request, filters: Query[CustomerFilters]):
    """Keyset-paginated: pass ``next_cursor`` back as ``cursor`` for the next page.
    Custom fields filter with ``cf_<key>=value``."""
    services.require_view(request.user)
    params = filters.dict(exclude_none=True)
    params.update(custom_filter_params(request))
    rows, next_cursor = selectors.customer_list(
        user=request.user,
        params=params,
        cursor=filters.cursor,
        size=filters.limit,
        sort=filters.sort,
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/customers", response={201: CustomerDetailOut, **ERRORS})
def create_customer(request, data: CustomerIn):
    customer = services.customer_create(actor=request.user, data=_payload(data))
    return Status(201, customer)


@router.get("/customers/{customer_id}", response={200: CustomerDetailOut, **ERRORS})
def get_customer(request, customer_id: int):
    services.require_view(request.user)
    return services.customer_get_for_user(user=request.user, id=customer_id)


@router.patch("/customers/{customer_id}", response={200: CustomerDetailOut, **ERRORS})
def update_customer(request, customer_id: int, data: CustomerIn):
    customer = services.customer_get_for_user(user=request.user, id=customer_id)
    return services.customer_update(actor=request.user, customer=customer, data=_payload(data))


@router.delete("/customers/{customer_id}", response={204: None, **ERRORS})
def delete_customer(request, customer_id: int):
    customer = services.customer_get_for_user(user=request.user, id=customer_id)
    services.customer_delete(actor=request.user, customer=customer)
    return Status(204, None)


@router.put("/customers/{customer_id}/consents", response={200: ConsentOut, **ERRORS})
def set_consent(request, customer_id: int, data: ConsentIn):
    customer = services.customer_get_for_user(user=request.user, id=customer_id)
    return services.consent_set(
        actor=request.user,
        customer=customer,
        channel=data.channel,
        granted=data.granted,
        source=data.source or "api",
    )


@router.get("/customers/{customer_id}/audit", response={200: list[AuditOut], **ERRORS})
def customer_audit(request, customer_id: int):
    services.require_view(request.user)
    customer = services.customer_get_for_user(user=request.user, id=customer_id)
    return list(audit.history(model="customers.customer", object_id=customer.pk)[:200])


@router.get("/customers/{customer_id}/timeline", response={200: list[TimelineOut], **ERRORS})
def customer_timeline(request, customer_id: int, limit: int = 50):
    services.require_view(request.user)
    customer = services.customer_get_for_user(user=request.user, id=customer_id)
    return timeline_for(customer, request.user, limit=max(1, min(limit, 200)))


# Contacts


@router.get("/customers/{customer_id}/contacts", response={200: list[ContactOut], **ERRORS})
def list_contacts(request, customer_id: int):
    services.require_view(request.user)
    customer = services.customer_get_for_user(user=request.user, id=customer_id)
    return list(selectors.contacts_of(user=request.user, customer=customer))


@router.post("/customers/{customer_id}/contacts", response={201: ContactOut, **ERRORS})
def create_contact(request, customer_id: int, data: ContactIn):
    customer = services.customer_get_for_user(user=request.user, id=customer_id)
    contact = services.contact_create(actor=request.user, customer=customer, data=_payload(data))
    return Status(201, contact)


@router.get("/contacts/{contact_id}", response={200: ContactOut, **ERRORS})
def get_contact(request, contact_id: int):
    services.require_view(request.user)
    return services.contact_get_for_user(user=request.user, id=contact_id)


@router.patch("/contacts/{contact_id}", response={200: ContactOut, **ERRORS})
def update_contact(request, contact_id: int, data: ContactIn):
    contact = services.contact_get_for_user(user=request.user, id=contact_id)
    return services.contact_update(actor=request.user, contact=contact, data=_payload(data))


@router.delete("/contacts/{contact_id}", response={204: None, **ERRORS})
def delete_contact(request, contact_id: int):
    contact = services.contact_get_for_user(user=request.user, id=contact_id)
    services.contact_delete(actor=request.user, contact=contact)
    return Status(204, None)


# Tags


@router.get("/tags", response={200: list[TagOut], **ERRORS}, tags=["settings"])
def list_tags(request):
    services.require_view(request.user)
    return list(Tag.objects.all())


@router.post("/tags", response={201: TagOut, **ERRORS}, tags=["settings"])
def create_tag(request, data: TagIn):
    tag = services.tag_create(
        actor=request.user, name=data.name or "", color=data.color or "#3b82f6"
    )
    return Status(201, tag)


@router.patch("/tags/{tag_id}", response={200: TagOut, **ERRORS}, tags=["settings"])
def update_tag(request, tag_id: int, data: TagIn):
    require(request.user, Action.MANAGE_SETTINGS)
    tag = get_object_or_404(Tag, pk=tag_id)
    return services.tag_update(actor=request.user, tag=tag, data=_payload(data))


@router.delete("/tags/{tag_id}", response={204: None, **ERRORS}, tags=["settings"])
def delete_tag(request, tag_id: int):
    require(request.user, Action.MANAGE_SETTINGS)
    services.tag_delete(actor=request.user, tag=get_object_or_404(Tag, pk=tag_id))
    return Status(204, None)


# Custom fields


@router.get("/custom-fields", response={200: list[CustomFieldOut], **ERRORS}, tags=["settings"])
def list_custom_fields(request, include_inactive: bool = False):
    services.require_view(request.user)
    qs = CustomField.objects.all()
    if not include_inactive:
        qs = qs.filter(active=True)
    return list(qs)


@router.post("/custom-fields", response={201: CustomFieldOut, **ERRORS}, tags=["settings"])
def create_custom_field(request, data: CustomFieldIn):
    return Status(201, services.custom_field_create(actor=request.user, data=_payload(data)))


@router.patch(
    "/custom-fields/{field_id}", response={200: CustomFieldOut, **ERRORS}, tags=["settings"]
)
def update_custom_field(request, field_id: int, data: CustomFieldIn):
    require(request.user, Action.MANAGE_SETTINGS)
    field = get_object_or_404(CustomField, pk=field_id)
    return services.custom_field_update(actor=request.user, field=field, data=_payload(data))


@router.delete("/custom-fields/{field_id}", response={204: None, **ERRORS}, tags=["settings"])
def delete_custom_field(request, field_id: int):
    require(request.user, Action.MANAGE_SETTINGS)
    field = get_object_or_404(CustomField, pk=field_id)
    services.custom_field_delete(actor=request.user, field=field)
    return Status(204, None)
