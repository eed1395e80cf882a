"""Every read of customers that is more than a ``get``: always through visibility."""

import datetime
import re

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Scope, role_of
from guanxi.core.errors import ValidationFailed
from guanxi.core.normalize import phone_search_key
from guanxi.core.pagination import keyset_page
from guanxi.core.search import prefix_q
from guanxi.core.visibility import visible_to
from guanxi.customers.customfields import clean_value
from guanxi.customers.models import Contact, Customer, CustomField, Tag

SORTS = {
    "-created_at": "-created_at",
    "created_at": "created_at",
    "-updated_at": "-updated_at",
    "updated_at": "updated_at",
    "name": "name",
    "-name": "-name",
}
FILTER_KEYS = [
    "q",
    "stage",
    "grade",
    "tag",
    "owner",
    "team",
    "province",
    "city",
    "source",
    "kind",
    "rfm_segment",
]


def customers_visible(user) -> QuerySet:
    if connection.vendor == "sqlite" and role_of(user).scope == Scope.TEAM and user.team_id:
        # The same rule as visibility_q (own OR team), on unindexed copies of the columns
        # (``col + 0``). SQLite otherwise merges the owner and team indexes and sorts the
        # whole team (100k rows at 1M customers: ~1 s) before it can return one page;
        # this way it walks the index of the sort order and stops after a page.
        return Customer.objects.alias(_owner=F("owner_id") + 0, _team=F("team_id") + 0).filter(
            Q(_owner=user.pk) | Q(_team=user.team_id)
        )
    return visible_to(user, Customer.objects.all())


def search_q(text: str, *, on: str = "") -> Q:
    """Name, pinyin (full or initials), phone or e-mail, using indexed prefix matches.

    张伟 is found by "张", "张伟", "zhangwei", "zhang" and "zw". ``on`` prefixes the
    column names (the unindexed copies ``_search`` uses on SQLite)."""
    text = (text or "").strip()
    if not text:
        return Q()
    if "@" in text:
        return prefix_q(on + "email", text.lower())
    digits = re.sub(r"[\s\-()+]", "", text)
    if digits.isdigit() and len(digits) >= 5:
        phone = phone_search_key(text)
        if phone:
            # A whole number: one equality that the phone index answers. (With prefix
            # ranges too, SQLite preferred the owner index and read all of a rep's rows.)
            return Q(**{on + "phone": phone, on + "external_id": text}, _connector=Q.OR)
        q = prefix_q(on + "phone", "+86" + digits) | prefix_q(on + "phone", "+" + digits)
        return q | Q(**{on + "external_id": text})
    lowered = text.lower().replace(" ", "")
    q = prefix_q(on + "name", text)
    if re.fullmatch(r"[a-z0-9]+", lowered):
        q |= prefix_q(on + "name_pinyin", lowered) | prefix_q(on + "name_initials", lowered)
    return q


SEARCH_PROBE = 2000  # fewer matches: always through the search index
SEARCH_SCOPED_PROBE = 10_000  # the same for a user who sees part of the customers
SEARCHED = ("name", "name_pinyin", "name_initials", "phone", "email", "external_id")


def _search(qs: QuerySet, text: str) -> QuerySet:
    """``qs`` filtered by the search box, planned for the number of matches.

    PostgreSQL knows from its statistics whether "张" matches 70,000 rows or "张伟明" ten,
    and picks the index. SQLite does not: it always reads every match through the search
    index and sorts them, ~300 ms for "张" at 1M customers. So on SQLite we first count
    the matches, up to a limit (index only, ~1 ms):

    - few → the search index finds them (it reads each match once, then sorts the
      visible ones);
    - many → unindexed copies of the columns make SQLite walk the index of the sort
      order instead, and stop after a page. That reads ~51 × rows walked / visible
      matches rows: at most ~25,000 for an admin with at least SEARCH_PROBE matches, and
      few for a sales rep, whose walk is over the owner index (26,000 rows). A manager's
      walk is over the whole table while the visible matches can be far fewer than the
      matches — "zhangwei": 8,000 matches, 862 in the team, 60,000 rows walked for a
      page — so for a manager the search index is used up to SEARCH_SCOPED_PROBE
      matches, which bounds its cost (10,000 rows read), where the walk's has none.
      (Each request has a new connection, so rows read are mostly page reads from the
      OS cache: the search index's random ones cost more each than the walk's.)"""
    q = search_q(text)
    if connection.vendor != "sqlite" or not q:
        return qs.filter(q)
    matches = Customer.objects.filter(q).values("pk")
    # A manager's scope on SQLite is written on unindexed copies (customers_visible), so
    # walking the sort order reads the whole table, not only the team's rows.
    limit = SEARCH_SCOPED_PROBE if "_team" in qs.query.annotations else SEARCH_PROBE
    if matches[:limit].count() < limit:
        return qs.filter(pk__in=matches)
    qs = qs.alias(**{f"_plain_{c}": Concat(c, Value("")) for c in SEARCHED})
    return qs.filter(search_q(text, on="_plain_"))


def _custom_equals(key: str, value) -> Q:
    """Custom field ``key`` equals the scalar ``value``.

    PostgreSQL: ``custom @> {"key": value}`` (the same rows for a scalar). PostgreSQL has
    no statistics on ``custom -> 'key'`` and guesses 0.5% of rows for it, so a rep's
    list sometimes walked the whole created-at index; it does estimate containment from
    the column's statistics (10% for 金卡会员, as found), and the GIN index
    ``cust_custom_gin`` answers it for rare values."""
    if connection.vendor == "postgresql":
        return Q(custom__contains={key: value})
    return Q(**{f"custom__{key}": value})


def apply_filters(qs: QuerySet, params: dict, *, fields: list[CustomField] | None = None):
    """Filters from a dict of strings (query parameters, saved filters)."""
    errors = {}
    if params.get("q"):
        qs = _search(qs, params["q"])
    for key in ("stage", "grade", "source", "kind"):
        value = params.get(key)
        if value:
            values = [v for v in str(value).split(",") if v]
            allowed = {
                "stage": Customer.Stage.values,
                "grade": Customer.Grade.values,
                "source": Customer.Source.values,
                "kind": Customer.Kind.values,
            }[key]
            bad = [v for v in values if v not in allowed]
            if bad:
                errors[key] = [_("“%(value)s” is not a valid choice.") % {"value": bad[0]}]
            qs = qs.filter(**{f"{key}__in": values})
    for key in ("province", "city"):
        if params.get(key):
            qs = qs.filter(**{key: params[key]})
    if params.get("owner"):
        owner = str(params["owner"])
        if owner == "none":
            qs = qs.filter(owner__isnull=True)
        elif owner.isdigit():
            qs = qs.filter(owner_id=int(owner))
        else:
            qs = qs.filter(owner__username=owner)
    if params.get("team") and str(params["team"]).isdigit():
        qs = qs.filter(team_id=int(params["team"]))
    if params.get("tag"):
        tag = str(params["tag"])
        # EXISTS rather than a join: no DISTINCT, so the list can still walk the index of
        # its sort order and stop after one page (a join + DISTINCT sorted every tagged row).
        # The tag's id is looked up first, so PostgreSQL plans with that tag's frequency.
        if tag.isdigit():
            tag_id = int(tag)
        else:
            tag_id = Tag.objects.filter(name=tag).values_list("pk", flat=True).first()
        links = Customer.tags.through.objects.filter(customer_id=OuterRef("pk"), tag_id=tag_id)
        qs = qs.filter(Exists(links)) if tag_id is not None else qs.none()
    if params.get("rfm_segment"):
        from guanxi.analytics.rfm import SEGMENT_KEYS

        values = [v for v in str(params["rfm_segment"]).split(",") if v]
        bad = [v for v in values if v not in SEGMENT_KEYS]
        if bad:
            errors["rfm_segment"] = [_("“%(value)s” is not a valid choice.") % {"value": bad[0]}]
        qs = qs.filter(rfm__segment__in=values)
    if params.get("created_after"):
        qs = qs.filter(created_at__date__gte=params["created_after"])
    if params.get("created_before"):
        qs = qs.filter(created_at__date__lte=params["created_before"])
    fields = fields if fields is not None else list(CustomField.objects.filter(active=True))
    for field in fields:
        value = params.get(f"cf_{field.key}")
        if value in (None, ""):
            continue
        lookup = f"custom__{field.key}"
        if field.type == CustomField.Type.MULTI:
            qs = qs.filter(**{f"{lookup}__icontains": f'"{value}"'})
        elif field.type in (CustomField.Type.BOOL, CustomField.Type.DATE):
            # The same words and date forms as when the value is entered.
            try:
                qs = qs.filter(_custom_equals(field.key, clean_value(field, value)))
            except ValueError as exc:
                errors[f"cf_{field.key}"] = [str(exc)]
        elif field.type == CustomField.Type.NUMBER:
            try:
                number = float(value)
            except ValueError:
                errors[f"cf_{field.key}"] = [_("“%(value)s” is not a number.") % {"value": value}]
                continue
            qs = qs.filter(
                _custom_equals(field.key, int(number) if number.is_integer() else number)
            )
        else:
            qs = qs.filter(_custom_equals(field.key, value))
    if errors:
        raise ValidationFailed(errors)
    return qs


def customer_list(
    *, user, params: dict, cursor: str | None = None, size: int = 50, sort: str = "-created_at"
):
    """(rows, next_cursor) of the customers the user may see, filtered and sorted."""
    if sort not in SORTS:
        raise ValidationFailed({"sort": [_("Unknown sort order.")]})
    size = max(1, min(int(size or 50), 200))
    qs = apply_filters(customers_visible(user), params)
    qs = qs.select_related("owner", "team").prefetch_related("tags")
    order = SORTS[sort]
    parse = parse_datetime if order.lstrip("-") in {"created_at", "updated_at"} else None
    return keyset_page(qs, order=order, cursor=cursor, size=size, parse=parse)


def customer_export_rows(*, user, params: dict):
    """Every customer matching the filters, in id order, for export (streamed)."""
    qs = apply_filters(customers_visible(user), params)
    return qs.select_related("owner", "team").prefetch_related("tags").order_by("id")


def contacts_of(*, user, customer: Customer) -> QuerySet:
    return visible_to(user, Contact.objects.filter(customer=customer), prefix="customer__")


def counts_by(user, field: str) -> dict[str, int]:
    from django.db.models import Count

    rows = customers_visible(user).values(field).annotate(n=Count("id")).order_by(field)
    return {row[field]: row["n"] for row in rows}


def birthdays_between(user, start: datetime.date, end: datetime.date) -> QuerySet:
    return customers_visible(user).filter(
        birthday__month__gte=start.month, birthday__month__lte=end.month
    )
