"""What the customers app contributes to the 360° timeline: the change history of the
customer and of its contacts, in words a user reads (field labels, not column names)."""

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _

from guanxi.core.models import AuditEntry
from guanxi.core.timeline import TimelineItem
from guanxi.customers.models import Consent, Contact, Customer, CustomField


def field_label(name: str, custom_labels: dict[str, str]) -> str:
    if name.startswith("custom."):
        key = name.split(".", 1)[1]
        return custom_labels.get(key, key)
    if name.startswith("consent."):
        channel = name.split(".", 1)[1]
        label = dict(Consent.Channel.choices).get(channel, channel)
        return _("Marketing consent (%(channel)s)") % {"channel": label}
    if name == "custom":
        return _("Custom fields")
    try:
        return str(Customer._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def _changed_fields(entry: AuditEntry, custom_labels: dict[str, str]) -> str:
    names = []
    for name, change in entry.changes.items():
        if name == "custom" and isinstance(change, list) and len(change) == 2:
            old, new = (change[0] or {}), (change[1] or {})
            keys = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
            names.extend(custom_labels.get(k, k) for k in sorted(keys))
        else:
            names.append(field_label(name, custom_labels))
    return "、".join(names) if names else ""


def audit_items(customer, user, limit):
    custom_labels = dict(CustomField.objects.values_list("key", "label"))
    entries = (
        AuditEntry.objects.filter(model="customers.customer", object_id=customer.pk)
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
    for entry in entries:
        body = _changed_fields(entry, custom_labels) if entry.action == "update" else entry.note
        yield TimelineItem(
            at=entry.at,
            kind=f"audit.{entry.action}",
            title=_("Customer %(action)s") % {"action": entry.get_action_display()},
            body=body,
            actor=str(entry.actor) if entry.actor else _("system"),
        )


def contact_items(customer, user, limit):
    contacts = dict(Contact.objects.filter(customer=customer).values_list("id", "name"))
    if not contacts:
        return
    entries = (
        AuditEntry.objects.filter(model="customers.contact", object_id__in=list(contacts))
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
    for entry in entries:
        yield TimelineItem(
            at=entry.at,
            kind=f"contact.{entry.action}",
            title=_("Contact %(name)s %(action)s")
            % {"name": contacts[entry.object_id], "action": entry.get_action_display()},
            actor=str(entry.actor) if entry.actor else _("system"),
        )
