"""What the customers app contributes to the 360° timeline: its audit history."""

from django.utils.translation import gettext as _

from guanxi.core.models import AuditEntry
from guanxi.core.timeline import TimelineItem


def audit_items(customer, user, limit):
    entries = (
        AuditEntry.objects.filter(model="customers.customer", object_id=customer.pk)
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
    for entry in entries:
        fields = ", ".join(sorted(entry.changes)) if entry.action == "update" else ""
        yield TimelineItem(
            at=entry.at,
            kind=f"audit.{entry.action}",
            title=_("Record %(action)s") % {"action": entry.get_action_display()},
            body=fields,
            actor=str(entry.actor) if entry.actor else _("system"),
        )
