"""Pages for stores, orders and products: thin views over the services and selectors."""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.accounts.roles import Action, can, require, role_of
from guanxi.commerce import selectors, services
from guanxi.commerce.models import Order, Store
from guanxi.core.errors import ValidationFailed
from guanxi.web.decorators import service_errors

PAGE_SIZE = 50
# Lazy: translated when a page is drawn, in that page's language.
STORE_FORM_FIELDS = [
    ("code", gettext_lazy("Code")),
    ("name", gettext_lazy("Name")),
    ("channel", gettext_lazy("Channel")),
    ("currency", gettext_lazy("Currency")),
    ("dormant_after_days", gettext_lazy("Dormant after (days)")),
    ("lost_after_days", gettext_lazy("Lost after (days)")),
    ("p_alive_threshold", gettext_lazy("P(alive) threshold")),
]


def _manages_stores(user) -> bool:
    return role_of(user).key in ("admin", "manager")


@service_errors
def order_list(request):
    require(request.user, Action.VIEW)
    params = {k: v for k, v in request.GET.dict().items() if v != ""}
    cursor = params.pop("cursor", None)
    errors: dict = {}
    try:
        rows, next_cursor = selectors.order_list(
            user=request.user, params=params, cursor=cursor, size=PAGE_SIZE
        )
    except ValidationFailed as exc:
        rows, next_cursor, errors = [], None, exc.field_errors
    context = {
        "rows": rows,
        "errors": [m for ms in errors.values() for m in ms],
        "params": params,
        "next_query": urlencode(dict(params, cursor=next_cursor)) if next_cursor else "",
        "first_query": urlencode(params),
        "is_next_page": bool(cursor),
        "filtered": bool(params),
        "stores": selectors.store_list(),
        "statuses": Order.Status.choices,
        "can_import": can(request.user, Action.IMPORT),
    }
    return render(request, "commerce/orders.html", context)


@service_errors
def order_detail(request, pk: int):
    order = selectors.order_get_for_user(user=request.user, id=pk)
    context = {
        "order": order,
        "items": list(order.items.order_by("id")),
        "events": list(selectors.order_events(order)),
    }
    return render(request, "commerce/order_detail.html", context)


@service_errors
def store_list(request):
    require(request.user, Action.VIEW)
    can_manage = _manages_stores(request.user)
    form, errors = {}, {}
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k, _label in STORE_FORM_FIELDS}
        try:
            store = services.store_create(actor=request.user, data=form)
        except ValidationFailed as exc:
            errors = exc.field_errors
        else:
            messages.success(request, _("Store created."))
            return redirect("commerce:store_detail", pk=store.pk)
    context = {
        "stores": selectors.store_list(),
        "can_manage": can_manage,
        "form": form,
        "errors": errors,
        "fields": STORE_FORM_FIELDS,
        "channels": Store.Channel.choices,
    }
    return render(request, "commerce/stores.html", context, status=422 if errors else 200)


@service_errors
def store_detail(request, pk: int):
    store = selectors.store_get_for_user(user=request.user, id=pk)
    can_manage = _manages_stores(request.user)
    errors = {}
    values = {k: getattr(store, k) for k, _label in STORE_FORM_FIELDS}
    if request.method == "POST":
        data = {k: request.POST.get(k, "") for k, _label in STORE_FORM_FIELDS}
        values = dict(data)
        data["active"] = request.POST.get("active") == "on"
        try:
            services.store_update(actor=request.user, store=store, data=data)
        except ValidationFailed as exc:
            errors = exc.field_errors
            store.refresh_from_db()
        else:
            messages.success(request, _("Store saved."))
            return redirect("commerce:store_detail", pk=store.pk)
    context = {
        "store": store,
        "values": values,
        "can_manage": can_manage,
        "errors": errors,
        "fields": STORE_FORM_FIELDS,
        "channels": Store.Channel.choices,
        "webhook_url": request.build_absolute_uri(reverse("commerce:webhook", args=[store.code])),
        "rejections": selectors.recent_rejections(store) if can_manage else [],
    }
    return render(request, "commerce/store_detail.html", context, status=422 if errors else 200)


@require_POST
@service_errors
def store_rotate_secret(request, pk: int):
    store = selectors.store_get_for_user(user=request.user, id=pk)
    services.store_rotate_secret(actor=request.user, store=store)
    messages.success(request, _("A new webhook secret is in use; update the shop's settings."))
    return redirect("commerce:store_detail", pk=store.pk)


@service_errors
def product_list(request):
    require(request.user, Action.VIEW)
    q = request.GET.get("q", "")
    cursor = request.GET.get("cursor") or None
    errors = {}
    try:
        rows, next_cursor = selectors.product_list(q=q, cursor=cursor, size=PAGE_SIZE)
    except ValidationFailed as exc:
        rows, next_cursor, errors = [], None, exc.field_errors
    base = {"q": q} if q else {}
    context = {
        "rows": rows,
        "q": q,
        "errors": [m for ms in errors.values() for m in ms],
        "next_query": urlencode(dict(base, cursor=next_cursor)) if next_cursor else "",
        "first_query": urlencode(base),
        "is_next_page": bool(cursor),
    }
    return render(request, "commerce/products.html", context)
