"""Customer pages. Thin: parse the request, call a service or selector, render.

Service errors become pages: NotFound → 404, PermissionDenied → 403, ValidationFailed →
the form again with its field errors (status 422, which htmx is told to swap in).
Requests from htmx (``HX-Request``) get just the fragment they replace.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.accounts.roles import Action, Scope, can, require, role_of
from guanxi.core import audit, audit_display
from guanxi.core.errors import ValidationFailed
from guanxi.core.timeline import timeline_for
from guanxi.customers import customfields, selectors, services
from guanxi.customers.forms import CustomerForm, filter_inputs, selectable_users
from guanxi.customers.models import Consent, Customer, CustomField, Tag
from guanxi.web.decorators import service_errors

SORT_CHOICES = [
    ("-created_at", gettext_lazy("Newest first")),
    ("created_at", gettext_lazy("Oldest first")),
    ("-updated_at", gettext_lazy("Recently changed")),
    ("name", gettext_lazy("Name A→Z")),
    ("-name", gettext_lazy("Name Z→A")),
]
PAGE_SIZE = 50


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def _customer(request, pk: int) -> Customer:
    return services.customer_get_for_user(user=request.user, id=pk)


# List ---------------------------------------------------------------------------------


@service_errors
def customer_list(request):
    require(request.user, Action.VIEW)
    params = {k: v for k, v in request.GET.dict().items() if v != ""}
    sort = params.pop("sort", "-created_at")
    cursor = params.pop("cursor", None)
    params.pop("format", None)
    fields = customfields.active_fields()
    errors: dict = {}
    try:
        rows, next_cursor = selectors.customer_list(
            user=request.user, params=params, cursor=cursor, size=PAGE_SIZE, sort=sort
        )
    except ValidationFailed as exc:
        rows, next_cursor, errors = [], None, exc.field_errors
    query = dict(params, sort=sort) if sort != "-created_at" else dict(params)
    context = {
        "rows": rows,
        "errors": [m for messages_ in errors.values() for m in messages_],
        "next_query": urlencode(dict(query, cursor=next_cursor)) if next_cursor else "",
        "first_query": urlencode(query),
        "is_next_page": bool(cursor),
        "filtered": bool(params),
    }
    if _is_htmx(request):
        response = render(request, "customers/_results.html", context)
        # Push a clean address (no empty filters, no default sort) into the history.
        shown = urlencode(dict(query, cursor=cursor)) if cursor else context["first_query"]
        response["HX-Push-Url"] = f"{request.path}?{shown}" if shown else request.path
    else:
        show_owner = role_of(request.user).scope != Scope.OWN
        filter_keys = ("tag", "owner", "province", "city", "source", "kind")
        context.update(
            params=params,
            sort=sort,
            sort_choices=SORT_CHOICES,
            stages=Customer.Stage.choices,
            grades=Customer.Grade.choices,
            sources=Customer.Source.choices,
            kinds=Customer.Kind.choices,
            tags=Tag.objects.all(),
            owners=selectable_users(request.user) if show_owner else [],
            show_owner=show_owner,
            custom_inputs=filter_inputs(fields, params),
            more_open=any(k in params for k in filter_keys)
            or any(k.startswith("cf_") for k in params),
            can_create=can(request.user, Action.CREATE),
            can_import=can(request.user, Action.IMPORT),
            can_export=can(request.user, Action.EXPORT),
        )
        response = render(request, "customers/list.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# Detail (360°) ------------------------------------------------------------------------


@service_errors
def customer_detail(request, pk: int):
    return _detail_page(request, _customer(request, pk))


@service_errors
def customer_timeline(request, pk: int):
    """The 360° page's timeline alone, for htmx to reload it after something was logged."""
    customer = _customer(request, pk)
    context = {"customer": customer, "timeline": timeline_for(customer, request.user)}
    return render(request, "customers/_timeline.html", context)


def _detail_page(request, customer: Customer, *, status=200, **contact_state):
    fields = [
        f
        for f in CustomField.objects.all()
        if f.active or (customer.custom or {}).get(f.key) is not None
    ]
    custom_rows = [
        (f, customfields.display_value(f, (customer.custom or {}).get(f.key))) for f in fields
    ]
    entries = list(audit.history(model="customers.customer", object_id=customer.pk)[:100])
    context = {
        "customer": customer,
        "custom_rows": custom_rows,
        "tags": list(customer.tags.all()),
        "timeline": timeline_for(customer, request.user),
        "history": history_rows(entries, fields),
        "can_change": can(request.user, Action.CHANGE),
        "can_delete": can(request.user, Action.DELETE),
    }
    context.update(_consent_context(customer))
    context.update(_contacts_context(request, customer, **contact_state))
    return render(request, "customers/detail.html", context, status=status)


def _consent_context(customer: Customer) -> dict:
    given = {c.channel: c for c in customer.consents.all()}
    return {
        "customer": customer,
        "consents": [(value, label, given.get(value)) for value, label in Consent.Channel.choices],
    }


@require_POST
@service_errors
def consent_set(request, pk: int):
    customer = _customer(request, pk)
    services.consent_set(
        actor=request.user,
        customer=customer,
        channel=request.POST.get("channel", ""),
        granted=request.POST.get("granted") == "1",
        source=request.POST.get("source") or _("customer page"),
    )
    if _is_htmx(request):
        context = _consent_context(customer)
        context["can_change"] = True
        return render(request, "customers/_consents.html", context)
    return redirect("customers:detail", pk=customer.pk)


# Contacts (companies only; edited inline on the detail page) ------------------------


def _contacts_context(request, customer, *, editing=None, errors=None, data=None) -> dict:
    contacts = []
    if customer.kind == Customer.Kind.COMPANY:
        contacts = list(selectors.contacts_of(user=request.user, customer=customer))
    return {
        "customer": customer,
        "contacts": contacts,
        "editing": editing,
        "contact_errors": errors or {},
        "contact_data": data or {},
        "can_change": can(request.user, Action.CHANGE),
    }


def _contacts_response(request, customer, **kwargs):
    """The contacts section for htmx; without JavaScript, the whole detail page."""
    status = 422 if kwargs.get("errors") else 200
    if not _is_htmx(request):
        if status == 200 and request.method == "POST":
            return redirect("customers:detail", pk=customer.pk)
        return _detail_page(request, customer, status=status, **kwargs)
    context = _contacts_context(request, customer, **kwargs)
    return render(request, "customers/_contacts.html", context, status=status)


def _contact_data(post) -> dict:
    data = {k: post.get(k, "") for k in ("name", "title", "phone", "email", "notes")}
    data["is_primary"] = "is_primary" in post
    return data


@require_POST
@service_errors
def contact_add(request, pk: int):
    customer = _customer(request, pk)
    data = _contact_data(request.POST)
    try:
        services.contact_create(actor=request.user, customer=customer, data=data)
    except ValidationFailed as exc:
        return _contacts_response(
            request, customer, editing="new", errors=exc.field_errors, data=data
        )
    return _contacts_response(request, customer)


@service_errors
def contact_edit(request, contact_id: int):
    contact = services.contact_get_for_user(user=request.user, id=contact_id)
    customer = _customer(request, contact.customer_id)
    if request.method != "POST":
        editing = None if "cancel" in request.GET else contact.pk
        return _contacts_response(request, customer, editing=editing)
    data = _contact_data(request.POST)
    try:
        services.contact_update(actor=request.user, contact=contact, data=data)
    except ValidationFailed as exc:
        return _contacts_response(
            request, customer, editing=contact.pk, errors=exc.field_errors, data=data
        )
    return _contacts_response(request, customer)


@require_POST
@service_errors
def contact_delete(request, contact_id: int):
    contact = services.contact_get_for_user(user=request.user, id=contact_id)
    customer = _customer(request, contact.customer_id)
    services.contact_delete(actor=request.user, contact=contact)
    return _contacts_response(request, customer)


# Create, edit, delete -------------------------------------------------------------------


@service_errors
def customer_create(request):
    require(request.user, Action.CREATE)
    fields = customfields.active_fields()
    errors: dict = {}
    if request.method == "POST":
        form = CustomerForm(request.POST, user=request.user, fields=fields)
        try:
            customer = services.customer_create(actor=request.user, data=form.to_service_data())
        except ValidationFailed as exc:
            errors = exc.field_errors
        else:
            messages.success(request, _("Customer “%(name)s” created.") % {"name": customer})
            return redirect("customers:detail", pk=customer.pk)
    else:
        form = CustomerForm(user=request.user, fields=fields, initial=_initial_from(request))
    return _form_page(request, form, errors, customer=None)


def _initial_from(request) -> dict:
    kind = request.GET.get("kind")
    return {"kind": kind} if kind in Customer.Kind.values else {}


@service_errors
def customer_edit(request, pk: int):
    customer = _customer(request, pk)
    require(request.user, Action.CHANGE)
    fields = customfields.active_fields()
    errors: dict = {}
    if request.method == "POST":
        form = CustomerForm(request.POST, user=request.user, fields=fields, customer=customer)
        try:
            services.customer_update(
                actor=request.user, customer=customer, data=form.to_service_data()
            )
        except ValidationFailed as exc:
            errors = exc.field_errors
        else:
            messages.success(request, _("Changes saved."))
            return redirect("customers:detail", pk=customer.pk)
    else:
        form = CustomerForm(user=request.user, fields=fields, customer=customer)
    return _form_page(request, form, errors, customer=customer)


def _form_page(request, form, errors, *, customer):
    context = {
        "form": form,
        "groups": form.groups(errors),
        "other_errors": form.other_errors(errors),
        "has_errors": bool(errors),
        "customer": customer,
    }
    return render(request, "customers/form.html", context, status=422 if errors else 200)


@service_errors
def customer_delete(request, pk: int):
    customer = _customer(request, pk)
    require(request.user, Action.DELETE)
    if request.method == "POST":
        name = customer.name
        services.customer_delete(actor=request.user, customer=customer)
        messages.success(request, _("Customer “%(name)s” deleted.") % {"name": name})
        return redirect("customers:list")
    return render(request, "customers/delete.html", {"customer": customer})


# Settings: custom fields and tags -------------------------------------------------------


@service_errors
def settings_page(request, *, errors=None, data=None, status=200):
    require(request.user, Action.MANAGE_SETTINGS)
    errors, data = errors or {}, data or {}
    fields = list(CustomField.objects.all())
    for field in fields:
        field.form_errors = errors.get(f"field-{field.pk}", {})
        field.form_data = data.get(f"field-{field.pk}", {})
    tags = list(Tag.objects.annotate(n=Count("customers")).order_by("name"))
    for tag in tags:
        tag.form_errors = errors.get(f"tag-{tag.pk}", {})
        tag.form_data = data.get(f"tag-{tag.pk}", {})
    context = {
        "fields": fields,
        "tags": tags,
        "types": CustomField.Type.choices,
        "choice_types": [CustomField.Type.CHOICE, CustomField.Type.MULTI],
        "new_field_errors": errors.get("field-new", {}),
        "new_field": data.get("field-new", {}),
        "new_tag_errors": errors.get("tag-new", {}),
        "new_tag": data.get("tag-new", {}),
    }
    return render(request, "customers/settings.html", context, status=status)


def _settings_write(request, form_id: str, write, data: dict, done: str):
    """Run a settings service; on success back to the page, else the page with errors."""
    try:
        write()
    except ValidationFailed as exc:
        return settings_page(
            request, errors={form_id: exc.field_errors}, data={form_id: data}, status=422
        )
    messages.success(request, done)
    return redirect("customers:settings")


def _field_data(post, *, new: bool) -> dict:
    data = {
        "label": post.get("label", ""),
        "choices": post.get("choices", ""),
        "required": "required" in post,
        "position": post.get("position", "0"),
    }
    if new:
        data.update(key=post.get("key", ""), type=post.get("type", ""))
    return data


@require_POST
@service_errors
def field_create(request):
    data = _field_data(request.POST, new=True)
    return _settings_write(
        request,
        "field-new",
        lambda: services.custom_field_create(actor=request.user, data=data),
        data,
        _("Field added."),
    )


@require_POST
@service_errors
def field_update(request, field_id: int):
    require(request.user, Action.MANAGE_SETTINGS)
    field = get_object_or_404(CustomField, pk=field_id)
    data = _field_data(request.POST, new=False)
    if field.type not in (CustomField.Type.CHOICE, CustomField.Type.MULTI):
        data.pop("choices")
    if "active" in request.POST:  # the reactivate / deactivate buttons
        data = {"active": request.POST["active"] == "1"}
    return _settings_write(
        request,
        f"field-{field.pk}",
        lambda: services.custom_field_update(actor=request.user, field=field, data=data),
        data,
        _("Field saved."),
    )


@require_POST
@service_errors
def field_deactivate(request, field_id: int):
    require(request.user, Action.MANAGE_SETTINGS)
    field = get_object_or_404(CustomField, pk=field_id)
    services.custom_field_delete(actor=request.user, field=field)
    messages.success(
        request, _("Field “%(label)s” hidden; stored values are kept.") % {"label": field.label}
    )
    return redirect("customers:settings")


@require_POST
@service_errors
def tag_create(request):
    data = {"name": request.POST.get("name", ""), "color": request.POST.get("color", "#3b82f6")}
    return _settings_write(
        request,
        "tag-new",
        lambda: services.tag_create(actor=request.user, **data),
        data,
        _("Tag added."),
    )


@require_POST
@service_errors
def tag_update(request, tag_id: int):
    require(request.user, Action.MANAGE_SETTINGS)
    tag = get_object_or_404(Tag, pk=tag_id)
    data = {"name": request.POST.get("name", ""), "color": request.POST.get("color", "")}
    return _settings_write(
        request,
        f"tag-{tag.pk}",
        lambda: services.tag_update(actor=request.user, tag=tag, data=data),
        data,
        _("Tag saved."),
    )


@require_POST
@service_errors
def tag_delete(request, tag_id: int):
    require(request.user, Action.MANAGE_SETTINGS)
    tag = get_object_or_404(Tag, pk=tag_id)
    services.tag_delete(actor=request.user, tag=tag)
    messages.success(request, _("Tag “%(name)s” deleted.") % {"name": tag.name})
    return redirect("customers:settings")


# Audit history, readable ------------------------------------------------------------------


def _label(name: str, fields_by_key: dict) -> str:
    if name.startswith("consent."):
        channel = name.split(".", 1)[1]
        label = dict(Consent.Channel.choices).get(channel, channel)
        return _("Marketing consent: %(channel)s") % {"channel": label}
    if name.startswith("custom."):
        key = name.split(".", 1)[1]
        return str(fields_by_key[key].label) if key in fields_by_key else key
    if name == "tags":
        return _("Tags")
    return audit_display.field_label(Customer, name)


def _value(name: str, value) -> str:
    return audit_display.field_value(Customer, name, value)


def _change_order(fields) -> dict[str, int]:
    """Where each audited name sits in the history: the form's order (built-in fields,
    tags after grade), then custom fields by position, then consents."""
    names = [n for n in services.AUDITED_FIELDS if n != "custom"]
    names.insert(names.index("grade") + 1, "tags")
    names += [f"custom.{f.key}" for f in fields]
    names += [f"consent.{value}" for value in Consent.Channel.values]
    return {name: i for i, name in enumerate(names)}


def history_rows(entries, fields) -> list[dict]:
    """Audit entries as (who, when, what) with one "field: old → new" line per change,
    in the order the form shows the fields."""
    fields_by_key = {f.key: f for f in fields}
    order = _change_order(fields)
    rows = []
    for entry in entries:
        changes = []
        for name, pair in (entry.changes or {}).items():
            old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
            if name == "custom" and isinstance(old or new or {}, dict):
                old, new = old or {}, new or {}
                for key in set(old) | set(new):
                    if old.get(key) != new.get(key):
                        label = _label(f"custom.{key}", fields_by_key)
                        changes.append(
                            (
                                f"custom.{key}",
                                label,
                                _value("", old.get(key)),
                                _value("", new.get(key)),
                            )
                        )
                continue
            changes.append(
                (name, _label(name, fields_by_key), _value(name, old), _value(name, new))
            )
        changes.sort(key=lambda c: (order.get(c[0], len(order)), c[0]))
        rows.append(
            {
                "entry": entry,
                "changes": [c[1:] for c in changes],
                "created": entry.action == "create",
            }
        )
    return rows


@login_required
def placeholder(request):
    """Stands in for pages other parts of the project have not built yet."""
    return render(request, "customers/placeholder.html")
