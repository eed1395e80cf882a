"""What commerce contributes to the 360° timeline: the customer's order events
(placed, paid, shipped, received, cancelled, refunded), each linking to its order."""

from django.urls import reverse
from django.utils.translation import gettext as _

from guanxi.commerce.models import OrderEvent
from guanxi.core.timeline import TimelineItem
from guanxi.core.visibility import can_see

TITLES = {
    "placed": lambda o: _("Order %(order)s placed") % {"order": o},
    "paid": lambda o: _("Order %(order)s paid") % {"order": o},
    "shipped": lambda o: _("Order %(order)s shipped") % {"order": o},
    "received": lambda o: _("Order %(order)s received") % {"order": o},
    "cancelled": lambda o: _("Order %(order)s cancelled") % {"order": o},
    "refunded": lambda o: _("Order %(order)s refunded") % {"order": o},
}


def order_items(customer, user, limit):
    if not can_see(user, customer):
        return []
    rows = (
        OrderEvent.objects.filter(order__customer=customer)
        .select_related("order", "store")
        .order_by("-occurred_at", "-id")[:limit]
    )
    items = []
    for event in rows:
        order = event.order
        body = f"{event.store.name} · {order.currency} {order.paid_amount}"
        if event.event == "refunded":
            amount = (event.payload.get("refund") or {}).get("amount", "")
            body = f"{event.store.name} · {_('refund')} {order.currency} {amount}"
        items.append(
            TimelineItem(
                at=event.occurred_at,
                kind="order",
                title=TITLES[event.event](order.external_id),
                body=body,
                url=reverse("commerce:order_detail", args=[order.pk]),
            )
        )
    return items
