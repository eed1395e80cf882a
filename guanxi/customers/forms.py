"""Forms for the customer pages: they render inputs; services do the validating.

``CustomerForm`` is bound to the POST data only so that the inputs show what the user
typed. Its own ``is_valid`` is never used: ``to_service_data`` hands the raw values to
``services.customer_create`` / ``customer_update``, and the field errors of their
``ValidationFailed`` are shown next to each input (see ``rows``).
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.models import User
from guanxi.accounts.roles import Action, Scope, can, role_of
from guanxi.customers.models import Customer, CustomField

BUILT_IN = [
    "kind",
    "name",
    "phone",
    "email",
    "phones_extra",
    "emails_extra",
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "address",
    "source",
    "stage",
    "grade",
    "tags",
    "external_id",
    "notes",
]
LIST_FIELDS = {"phones_extra", "emails_extra", "tags"}
# Sections of the form page, in order; custom fields get a section of their own.
GROUPS = [
    ("basics", _("Basics"), ["kind", "name", "phone", "email", "phones_extra", "emails_extra"]),
    ("person", _("Person"), ["gender", "birthday"]),
    ("address", _("Address"), ["province", "city", "district", "address"]),
    ("sales", _("Sales"), ["stage", "grade", "source", "owner", "tags", "external_id"]),
    ("custom", _("More fields"), ["custom"]),
    ("notes", _("Notes"), ["notes"]),
]


def _blank(label) -> list:
    return [("", label)]


def selectable_users(user):
    """Users ``user`` may pick as an owner (to assign or to filter by): their team or all."""
    qs = User.objects.filter(is_active=True).order_by("username")
    if role_of(user).scope != Scope.ALL and user.team_id:
        qs = qs.filter(team_id=user.team_id)
    return qs


def custom_form_field(field: CustomField) -> forms.Field:
    """The input for one custom field, by its type."""
    t = CustomField.Type
    common = {"label": field.label, "required": False}
    if field.type == t.NUMBER:
        return forms.CharField(widget=forms.NumberInput(attrs={"step": "any"}), **common)
    if field.type == t.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if field.type == t.CHOICE:
        choices = _blank("—") + [(c, c) for c in field.choices]
        return forms.ChoiceField(choices=choices, **common)
    if field.type == t.MULTI:
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in field.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    if field.type == t.BOOL:
        return forms.BooleanField(**common)
    return forms.CharField(max_length=1000, **common)


class CustomerForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"), choices=Customer.Kind.choices, required=False)
    name = forms.CharField(label=_("Name"), max_length=200)
    phone = forms.CharField(
        label=_("Phone"), required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )
    email = forms.CharField(
        label=_("E-mail"), required=False, widget=forms.EmailInput(attrs={"inputmode": "email"})
    )
    phones_extra = forms.CharField(
        label=_("Other phones"), required=False, help_text=_("Separate with commas.")
    )
    emails_extra = forms.CharField(
        label=_("Other e-mails"), required=False, help_text=_("Separate with commas.")
    )
    gender = forms.ChoiceField(label=_("Gender"), choices=Customer.Gender.choices, required=False)
    birthday = forms.CharField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    province = forms.CharField(label=_("Province"), required=False, max_length=50)
    city = forms.CharField(label=_("City"), required=False, max_length=50)
    district = forms.CharField(label=_("District"), required=False, max_length=50)
    address = forms.CharField(label=_("Address"), required=False, max_length=300)
    source = forms.ChoiceField(
        label=_("Source"), choices=_blank("—") + Customer.Source.choices, required=False
    )
    stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=Customer.Stage.choices, required=False
    )
    grade = forms.ChoiceField(
        label=_("Grade"), choices=_blank("—") + Customer.Grade.choices, required=False
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate with commas, e.g. VIP, 回头客.")
    )
    external_id = forms.CharField(
        label=_("External id"),
        required=False,
        help_text=_("The customer's id in another system (shop, ERP)."),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, user, fields: list[CustomField], customer=None, **kwargs):
        if customer is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_for(customer, fields)
        super().__init__(*args, **kwargs)
        self.user = user
        self.custom_fields = fields
        self.can_assign = can(user, Action.ASSIGN)
        self.fields["kind"].widget.attrs["x-model"] = "kind"
        if self.can_assign:
            self.fields["owner"] = forms.ModelChoiceField(
                label=_("Owner"),
                queryset=selectable_users(user),
                required=False,
                empty_label=None,
            )
            if customer is None:
                self.initial.setdefault("owner", user.pk)
        for field in fields:
            self.fields[f"cf_{field.key}"] = custom_form_field(field)

    def to_service_data(self) -> dict:
        """The raw values, shaped as ``services.clean_customer_input`` expects them."""
        data = {key: self.data.get(key, "") for key in BUILT_IN}
        if self.can_assign and self.data.get("owner"):
            data["owner"] = self.data["owner"]
        custom = {}
        for field in self.custom_fields:
            name = f"cf_{field.key}"
            if field.type == CustomField.Type.MULTI:
                custom[field.key] = self.data.getlist(name)
            elif field.type == CustomField.Type.BOOL:
                custom[field.key] = name in self.data
            else:
                custom[field.key] = self.data.get(name, "")
        data["custom"] = custom
        return data

    def rows(self, errors: dict) -> list[dict]:
        """Inputs with their service errors; ``custom.<key>`` maps to ``cf_<key>``."""
        required = {f"cf_{f.key}" for f in self.custom_fields if f.required} | {"name"}
        out = []
        for name in self.fields:
            key = f"custom.{name[3:]}" if name.startswith("cf_") else name
            widget = self.fields[name].widget
            out.append(
                {
                    "name": name,
                    "field": self[name],
                    "errors": errors.get(key, []),
                    "required": name in required,
                    "wide": name in {"notes", "address"}
                    or isinstance(widget, forms.CheckboxSelectMultiple),
                    "multi": isinstance(widget, forms.CheckboxSelectMultiple),
                    "checkbox": isinstance(widget, forms.CheckboxInput),
                }
            )
        return out

    def groups(self, errors: dict) -> list[tuple]:
        """``rows`` in titled sections (see GROUPS); empty sections left out."""
        rows = {row["name"]: row for row in self.rows(errors)}
        out = []
        for key, title, names in GROUPS:
            if names == ["custom"]:
                names = [n for n in rows if n.startswith("cf_")]
            items = [rows[n] for n in names if n in rows]
            if items:
                out.append((key, title, items))
        return out

    def other_errors(self, errors: dict) -> list[str]:
        """Errors for keys that no input shows (e.g. "custom" or an unknown key)."""
        shown = {f"custom.{n[3:]}" if n.startswith("cf_") else n for n in self.fields}
        return [m for key, messages in errors.items() if key not in shown for m in messages]


def initial_for(customer: Customer, fields: list[CustomField]) -> dict:
    initial = {key: getattr(customer, key) for key in BUILT_IN if key not in LIST_FIELDS}
    initial["external_id"] = customer.external_id or ""
    initial["birthday"] = customer.birthday.isoformat() if customer.birthday else ""
    initial["phones_extra"] = ", ".join(customer.phones_extra or [])
    initial["emails_extra"] = ", ".join(customer.emails_extra or [])
    initial["tags"] = ", ".join(t.name for t in customer.tags.all())
    initial["owner"] = customer.owner_id
    for field in fields:
        value = (customer.custom or {}).get(field.key)
        initial[f"cf_{field.key}"] = "" if value is None else value
    return initial


def filter_inputs(fields: list[CustomField], params) -> list[dict]:
    """One filter input per active custom field for the list page (name ``cf_<key>``)."""
    t = CustomField.Type
    out = []
    for field in fields:
        name = f"cf_{field.key}"
        item = {"name": name, "label": field.label, "value": params.get(name, ""), "type": "text"}
        if field.type in (t.CHOICE, t.MULTI):
            item["type"] = "select"
            item["choices"] = [(c, c) for c in field.choices]
        elif field.type == t.BOOL:
            item["type"] = "select"
            item["choices"] = [("1", _("Yes")), ("0", _("No"))]
        elif field.type == t.NUMBER:
            item["type"] = "number"
        elif field.type == t.DATE:
            item["type"] = "date"
        out.append(item)
    return out
