"""What the lead pages post, as the plain dicts the services take (the services do all
the checking), and the choices the pages offer."""

from django.utils.translation import gettext_lazy as _

from guanxi.accounts.models import Team
from guanxi.customers.forms import selectable_users
from guanxi.customers.models import Customer
from guanxi.sales.models import Lead

LEAD_TEXT = [
    "name",
    "company",
    "job_title",
    "phone",
    "email",
    "province",
    "city",
    "source",
    "campaign",
    "message",
    "external_id",
]
# (field, label, input type, wide)
LEAD_FIELDS = [
    ("name", _("Name"), "text", False),
    ("company", _("Company"), "text", False),
    ("job_title", _("Job title"), "text", False),
    ("phone", _("Phone"), "tel", False),
    ("email", _("E-mail"), "email", False),
    ("province", _("Province"), "text", False),
    ("city", _("City"), "text", False),
    ("source", _("Source"), "select", False),
    ("campaign", _("Campaign"), "text", False),
    ("external_id", _("External id"), "text", False),
    ("message", _("Message"), "textarea", True),
]
FORM_TEXT = ["slug", "name", "title", "intro", "thank_you", "source", "campaign"]
FORM_FLAGS = ["ask_company", "ask_email", "ask_message", "active"]
PUBLIC_FIELDS = ["name", "phone", "email", "company", "message"]


def lead_data(post, *, with_owner: bool) -> dict:
    data = {key: post.get(key, "") for key in LEAD_TEXT}
    if with_owner and post.get("owner"):
        data["owner"] = post.get("owner")
    return data


def lead_initial(lead: Lead) -> dict:
    data = {key: getattr(lead, key) or "" for key in LEAD_TEXT}
    data["owner"] = str(lead.owner_id or "")
    return data


def webform_data(post) -> dict:
    data = {key: post.get(key, "") for key in FORM_TEXT}
    data.update({flag: flag in post for flag in FORM_FLAGS})
    return data


def rule_data(post) -> dict:
    return {
        "name": post.get("name", ""),
        "position": post.get("position", ""),
        "active": "active" in post,
        "team": post.get("team", ""),
        "province": post.get("province", ""),
        "source": post.get("source", ""),
        "form": post.get("form", ""),
        "members": post.getlist("members"),
    }


def source_choices():
    return [("", "—"), *Customer.Source.choices]


def owner_choices(user):
    return list(selectable_users(user))


def teams():
    return Team.objects.order_by("name")
