"""Customer group analysis (客户群分析): what makes a group of customers different.

A group is a customer filter (the customer list's filters, saved by name as a
``SavedGroup`` or given ad hoc). For each dimension — region, gender, age band, source,
favourite category, price band, RFM segment, order weekday and hour — the group's
distribution is shown beside that of all customers the user can see, with the share in
each and the lift (share in group ÷ share in all). The values are computed in SQL: all
customers' counts are a GROUP BY per dimension (``all_side``); the group's come from one
read of its customers, each with their value of every dimension, counted in Python, and
one sum of the facts' weekday and hour fields (``group_side``), so the group's filter is
evaluated once.

The dimensions that come from order history (favourite category, order weekday and
hour) read the precomputed per-customer facts (``guanxi.analytics.facts``; in the site's
time zone) once those are built, and the orders themselves before. The "all customers"
side is the same for every group of users with the same visibility, so it is kept per
scope (``GroupBaseline``) for up to ``BASELINE_MAX_AGE`` and the same local day.
"""

from __future__ import annotations

import datetime
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, CharField, Count, F, Q, QuerySet, Sum, Value, When, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, ExtractHour, ExtractIsoWeekDay, RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.roles import Action, can, require
from guanxi.analytics import facts, rfm
from guanxi.analytics.models_analysis import SavedGroup
from guanxi.analytics.models_facts import HOUR_FIELDS, WEEKDAY_FIELDS, GroupBaseline
from guanxi.commerce.models import Category, Order, OrderItem
from guanxi.core import audit, bulk
from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.visibility import visibility_q
from guanxi.customers.models import Customer
from guanxi.customers.selectors import FILTER_KEYS, apply_filters, customers_visible

EXTRA_FILTER_KEYS = {"created_after", "created_before"}
UNKNOWN = ""
BASELINE_MAX_AGE = datetime.timedelta(hours=1)
READ_CHUNK = 20_000  # rows of a group read at a time (``group_side``)

AGE_BANDS = [(18, "<18"), (25, "18–24"), (30, "25–29"), (35, "30–34"), (40, "35–39")]
AGE_BANDS += [(50, "40–49"), (60, "50–59")]
AGE_LAST = "60+"
PRICE_BANDS = [(50, "<50"), (100, "50–100"), (200, "100–200"), (500, "200–500")]
PRICE_BANDS += [(1000, "500–1000")]
PRICE_LAST = "≥1000"
WEEKDAYS = [
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
]


def purchases() -> QuerySet:
    """Orders that count as purchases, as in the customer statistics
    (``guanxi.analytics.stats``): paid, and neither cancelled nor wholly refunded."""
    return Order.objects.filter(paid_at__isnull=False).exclude(
        status__in=[Order.Status.CANCELLED, Order.Status.REFUNDED]
    )


# ------------------------------------------------------------------ saved groups


def clean_filters(filters) -> dict:
    """Only the customer list's filter keys (and cf_*), as strings; checked by running
    them through the customer filters."""
    if not isinstance(filters, dict):
        raise ValidationFailed({"filters": [_("Filters must be an object.")]})
    cleaned = {}
    for key, value in filters.items():
        if value in (None, ""):
            continue
        if key not in FILTER_KEYS and key not in EXTRA_FILTER_KEYS and not key.startswith("cf_"):
            raise ValidationFailed({"filters": [_("Unknown filter: %(key)s.") % {"key": key}]})
        cleaned[key] = str(value)
    try:
        apply_filters(Customer.objects.none(), cleaned)
    except ValidationFailed as exc:
        raise ValidationFailed({f"filters.{k}": v for k, v in exc.field_errors.items()}) from exc
    return cleaned


def _clean_group(data: dict, *, partial: bool) -> dict:
    cleaned = {}
    if "name" in data or not partial:
        name = str(data.get("name") or "").strip()
        if not name:
            raise ValidationFailed({"name": [_("This field is required.")]})
        if len(name) > 100:
            raise ValidationFailed({"name": [_("At most 100 characters.")]})
        cleaned["name"] = name
    if "filters" in data or not partial:
        cleaned["filters"] = clean_filters(data.get("filters") or {})
    if "shared" in data:
        cleaned["shared"] = bool(data["shared"])
    return cleaned


def groups_for_user(*, user) -> QuerySet:
    require(user, Action.VIEW)
    return SavedGroup.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def group_get_for_user(*, user, id: int) -> SavedGroup:
    group = groups_for_user(user=user).filter(pk=id).first()
    if group is None:
        raise NotFound(_("Customer group not found."))
    return group


def _require_owner(actor, group: SavedGroup) -> None:
    if group.owner_id != actor.pk and not can(actor, Action.MANAGE_SETTINGS):
        raise PermissionDenied(_("Only the owner can change this group."))


@transaction.atomic
def group_create(*, actor, data: dict) -> SavedGroup:
    require(actor, Action.VIEW)
    cleaned = _clean_group(data, partial=False)
    group = SavedGroup.objects.create(owner=actor, **cleaned)
    audit.record(
        actor=actor,
        action="create",
        instance=group,
        changes={k: [None, v] for k, v in cleaned.items()},
    )
    return group


@transaction.atomic
def group_update(*, actor, group: SavedGroup, data: dict) -> SavedGroup:
    _require_owner(actor, group)
    cleaned = _clean_group(data, partial=True)
    before = audit.snapshot(group, list(cleaned))
    for key, value in cleaned.items():
        setattr(group, key, value)
    group.updated_at = timezone.now()
    group.save()
    changes = audit.diff(before, audit.snapshot(group, list(cleaned)))
    if changes:
        audit.record(actor=actor, action="update", instance=group, changes=changes)
    return group


@transaction.atomic
def group_delete(*, actor, group: SavedGroup) -> None:
    _require_owner(actor, group)
    audit.record(actor=actor, action="delete", instance=group, changes={"name": [group.name, None]})
    group.delete()


# ------------------------------------------------------------------ dimensions


@dataclass(frozen=True)
class Dimension:
    key: str
    label: object
    unit: str  # "customers" or "orders"
    counts: Callable[..., dict]  # (customer queryset, use_facts) → {value: n}
    order: Callable[[], list] | None = None  # fixed order of values, else by size
    labels: Callable[[], dict] | None = None
    # How ``counts`` counts, so that a group's dimensions can share reads
    # (``group_side``): one value per customer, an expression (use_facts → expression,
    # or None when only ``counts`` can say); or, with the facts, sums of the facts'
    # fields (the fields, and the value the first stands for).
    value: Callable[[bool], object] | None = None
    sums: tuple[list[str], int] | None = None


def _grouped(qs: QuerySet, expr_name: str) -> dict:
    return {
        row[expr_name]: row["n"] for row in qs.values(expr_name).annotate(n=Count("pk")).order_by()
    }


def _value_key(value):
    """A customer's value of a dimension as counted: none or empty → unknown."""
    return UNKNOWN if value is None or value == "" else value


def _value_counts(value: Callable[[bool], object]) -> Callable[..., dict]:
    """Customers by their value of a dimension (``value``: use_facts → expression)."""

    def counts(qs, use_facts=False):
        out: dict = {}
        for v, n in _grouped(qs.annotate(_v=value(use_facts)), "_v").items():
            key = _value_key(v)
            out[key] = out.get(key, 0) + n
        return out

    return counts


def _field_value(field: str) -> Callable[[bool], object]:
    def value(use_facts=False):
        if connection.vendor == "sqlite":
            # Grouping by an indexed column, SQLite walks that index over the whole table
            # (the region index: 1M rows for a 40k-customer group, 1.3 s); grouping by an
            # unindexed copy lets it start from the group's own filter (0.06 s).
            return Concat(F(field), Value(""))
        return F(field)

    return value


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _age_value(use_facts=False):
    today = timezone.localdate()
    whens = [When(birthday__isnull=True, then=Value(UNKNOWN))]
    # age < limit ⟺ birthday > today − limit years
    for limit, label in AGE_BANDS:
        whens.append(When(birthday__gt=_years_before(today, limit), then=Value(label)))
    return Case(*whens, default=Value(AGE_LAST), output_field=CharField())


def _price_value(use_facts=False):
    # Average item price = revenue / items, compared without dividing.
    whens = [When(Q(stats__isnull=True) | Q(stats__items__lte=0), then=Value(UNKNOWN))]
    for limit, label in PRICE_BANDS:
        whens.append(When(stats__revenue__lt=F("stats__items") * limit, then=Value(label)))
    return Case(*whens, default=Value(PRICE_LAST), output_field=CharField())


def _segment_value(use_facts=False):
    return F("rfm__segment")


def _favourite_value(use_facts=False):
    return F("facts__favourite_root_id") if use_facts else None


def _favourite_counts(qs: QuerySet, use_facts=False) -> dict:
    """Customers by their most-bought top-level category (by quantity; ties → the
    category with the smaller id); customers without categorised purchases → unknown."""
    if use_facts:
        return _value_counts(_favourite_value)(qs, use_facts)
    roots = facts.root_map()
    total = qs.count()
    if not roots:
        return {UNKNOWN: total} if total else {}
    by_root: dict[int, list[int]] = {}
    for pk, root in roots.items():
        by_root.setdefault(root, []).append(pk)
    root_expr = Case(
        *[When(product__category_id__in=pks, then=Value(root)) for root, pks in by_root.items()],
        default=Value(None),
    )
    per_customer = (
        OrderItem.objects.filter(
            order__in=purchases().filter(customer__in=qs.values("pk")).values("pk"),
            product__category_id__isnull=False,
        )
        .annotate(_cust=F("order__customer_id"), _root=root_expr)
        .values("_cust", "_root")
        .annotate(_qty=Sum("quantity"))
        .annotate(
            _rank=Window(
                RowNumber(),
                partition_by=[F("order__customer_id")],
                order_by=[F("_qty").desc(), F("_root").asc()],
            )
        )
        .values("_cust", "_root", "_rank")
    )
    sql, params = per_customer.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT t."_root", COUNT(*) FROM ({sql}) t WHERE t."_rank" = 1 GROUP BY t."_root"',
            params,
        )
        out = {int(root): n for root, n in cursor.fetchall()}
    unknown = total - sum(out.values())
    if unknown:
        out[UNKNOWN] = unknown
    return out


def _sums(spec: tuple[list[str], int]) -> dict:
    """The aggregates of a dimension counted from the facts' fields (``spec``: the
    fields and the value of the first)."""
    return {f: Sum(f"facts__{f}") for f in spec[0]}


def _from_sums(spec: tuple[list[str], int], sums: dict) -> dict:
    fields, first = spec
    return {first + i: sums[f] for i, f in enumerate(fields) if sums[f]}


def _order_counts(extract, fields: list[str], first: int) -> Callable[..., dict]:
    """Purchases by a local time part: from the facts' per-customer counts (``fields``,
    values ``first``, ``first`` + 1, …), or from the orders."""

    def counts(qs, use_facts=False):
        if use_facts:
            return _from_sums((fields, first), qs.aggregate(**_sums((fields, first))))
        orders = purchases().filter(customer__in=qs.values("pk"))
        return {
            row["_v"]: row["n"]
            for row in orders.annotate(_v=extract("placed_at"))
            .values("_v")
            .annotate(n=Count("pk"))
            .order_by()
        }

    return counts


def _choice_labels(choices) -> Callable[[], dict]:
    return lambda: {value: str(label) for value, label in choices if value}


def _category_labels() -> dict:
    return {
        pk: name
        for pk, name in Category.objects.filter(parent__isnull=True).values_list("pk", "name")
    }


DIMENSIONS = [
    Dimension(
        "region",
        gettext_lazy("Region (province)"),
        "customers",
        _value_counts(_field_value("province")),
        value=_field_value("province"),
    ),
    Dimension(
        "gender",
        gettext_lazy("Gender"),
        "customers",
        _value_counts(_field_value("gender")),
        value=_field_value("gender"),
        order=lambda: ["female", "male", UNKNOWN],
        labels=_choice_labels(Customer.Gender.choices),
    ),
    Dimension(
        "age",
        gettext_lazy("Age band"),
        "customers",
        _value_counts(_age_value),
        value=_age_value,
        order=lambda: [label for _l, label in AGE_BANDS] + [AGE_LAST, UNKNOWN],
    ),
    Dimension(
        "source",
        gettext_lazy("Source"),
        "customers",
        _value_counts(_field_value("source")),
        value=_field_value("source"),
        labels=_choice_labels(Customer.Source.choices),
    ),
    Dimension(
        "favourite_category",
        gettext_lazy("Favourite category"),
        "customers",
        _favourite_counts,
        labels=_category_labels,
        value=_favourite_value,
    ),
    Dimension(
        "price_band",
        gettext_lazy("Average item price"),
        "customers",
        _value_counts(_price_value),
        value=_price_value,
        order=lambda: [label for _l, label in PRICE_BANDS] + [PRICE_LAST, UNKNOWN],
    ),
    Dimension(
        "rfm_segment",
        gettext_lazy("RFM segment"),
        "customers",
        _value_counts(_segment_value),
        value=_segment_value,
        order=lambda: [*rfm.SEGMENT_KEYS, UNKNOWN],
        labels=lambda: {s.key: str(s.label) for s in rfm.SEGMENTS},
    ),
    Dimension(
        "weekday",
        gettext_lazy("Order weekday"),
        "orders",
        _order_counts(ExtractIsoWeekDay, WEEKDAY_FIELDS, 1),
        order=lambda: list(range(1, 8)),
        labels=lambda: {i + 1: str(day) for i, day in enumerate(WEEKDAYS)},
        sums=(WEEKDAY_FIELDS, 1),
    ),
    Dimension(
        "hour",
        gettext_lazy("Order hour"),
        "orders",
        _order_counts(ExtractHour, HOUR_FIELDS, 0),
        order=lambda: list(range(24)),
        labels=lambda: {h: f"{h:02d}:00" for h in range(24)},
        sums=(HOUR_FIELDS, 0),
    ),
]
DIMENSION_BY_KEY = {d.key: d for d in DIMENSIONS}


def _unknown_label(dim: Dimension) -> str:
    if dim.key in ("rfm_segment", "price_band"):
        return _("No orders")
    if dim.key == "favourite_category":
        return _("No category")
    return _("Unknown")


def _pct(part: int, whole: int) -> float:
    return round(part / whole * 100, 2) if whole else 0.0


def compare(dim: Dimension, *, group_counts: dict, all_counts: dict) -> dict:
    """One dimension of the group beside all customers."""
    group_total, all_total = sum(group_counts.values()), sum(all_counts.values())
    labels = dim.labels() if dim.labels else {}
    if dim.order:
        values = [
            v for v in dim.order() if v in all_counts or v in group_counts or dim.unit == "orders"
        ]
    else:
        values = sorted(
            set(all_counts) | set(group_counts),
            key=lambda v: (v == UNKNOWN, -all_counts.get(v, 0), str(v)),
        )
    rows = []
    for value in values:
        g, a = group_counts.get(value, 0), all_counts.get(value, 0)
        g_share, a_share = _pct(g, group_total), _pct(a, all_total)
        rows.append(
            {
                "value": value,
                "label": _unknown_label(dim) if value == UNKNOWN else str(labels.get(value, value)),
                "group": g,
                "group_share": g_share,
                "all": a,
                "all_share": a_share,
                "lift": round(g / group_total / (a / all_total), 2)
                if g and group_total and a and all_total
                else (0.0 if a else None),
            }
        )
    return {
        "key": dim.key,
        "label": str(dim.label),
        "unit": dim.unit,
        "group_total": group_total,
        "all_total": all_total,
        "rows": rows,
    }


def _scope_key(user, use_facts: bool) -> str:
    source = f"facts:{facts.zone_name()}" if use_facts else "orders"
    return f"{source}|{visibility_q(user, Customer)!r}"[:200]


def all_side(
    *, user, dimensions: list[Dimension], use_facts: bool, max_age=BASELINE_MAX_AGE
) -> tuple[dict, int, datetime.datetime]:
    """The counts of every dimension over all customers ``user`` may see, their number
    and when they were counted: kept per visibility scope (``GroupBaseline``) for up to
    ``max_age`` on the same local day (``max_age`` 0: count now)."""
    key = _scope_key(user, use_facts)
    now, today = timezone.now(), timezone.localdate().isoformat()
    row = GroupBaseline.objects.filter(scope=key).first()
    stored = dict(row.counts) if row else {}

    def fresh(entry) -> bool:
        if not entry or not max_age or entry.get("day") != today:
            return False
        return now - datetime.datetime.fromisoformat(entry["at"]) < max_age

    counted_at = now
    all_qs = customers_visible(user)
    wanted = [("_customers", None), *((d.key, d) for d in dimensions)]
    changed = False
    out: dict = {}
    for key_, dim in wanted:
        entry = stored.get(key_)
        if fresh(entry):
            counted_at = min(counted_at, datetime.datetime.fromisoformat(entry["at"]))
        else:
            counts = {"": all_qs.count()} if dim is None else dim.counts(all_qs, use_facts)
            entry = {
                "at": now.isoformat(),
                "day": today,
                "counts": [[v, n] for v, n in counts.items()],
            }
            stored[key_] = entry
            changed = True
        out[key_] = {v: n for v, n in entry["counts"]}
    if changed:
        try:
            with transaction.atomic():
                GroupBaseline.objects.update_or_create(
                    scope=key, defaults={"counts": stored, "computed_at": now}
                )
        except IntegrityError:  # another request stored it at the same moment
            pass
    total = out.pop("_customers")[""]
    return out, total, counted_at


def group_analysis(
    *,
    user,
    filters: dict,
    dimensions: list[str] | None = None,
    baseline_max_age=BASELINE_MAX_AGE,
) -> dict:
    """The distributions of the customers matching ``filters`` beside all customers the
    user may see (``all_counted_at``: when those were counted; see ``all_side``)."""
    require(user, Action.VIEW)
    filters = clean_filters(filters)
    wanted = dimensions or [d.key for d in DIMENSIONS]
    unknown = [k for k in wanted if k not in DIMENSION_BY_KEY]
    if unknown:
        raise ValidationFailed(
            {"dimensions": [_("Unknown dimension: %(key)s.") % {"key": unknown[0]}]}
        )
    use_facts = facts.is_built()
    dims = [DIMENSION_BY_KEY[k] for k in wanted]
    all_counts, all_total, counted_at = all_side(
        user=user, dimensions=dims, use_facts=use_facts, max_age=baseline_max_age
    )
    group_counts, n = group_side(
        apply_filters(customers_visible(user), filters), dims, use_facts=use_facts
    )
    return {
        "filters": filters,
        "customers": n,
        "all_customers": all_total,
        "all_counted_at": counted_at,
        "dimensions": [
            compare(d, group_counts=group_counts[d.key], all_counts=all_counts[d.key]) for d in dims
        ],
    }


def group_side(group_qs: QuerySet, dims: list[Dimension], *, use_facts: bool) -> tuple[dict, int]:
    """The counts of these dimensions over a group, and its number of customers, in as
    few reads as the dimensions allow: one read of the group's customers with each one's
    value of every dimension that has one (counted here), then, over the ids it gave,
    one sum of the facts' fields for the dimensions counted so, and the others' own
    queries.

    The group's filter is thus evaluated once. Counted dimension by dimension, a saved
    filter by tag (an ``EXISTS`` per customer) made each of the nine queries walk every
    customer: tag 高价值, 87k of 1M customers, 2.8 s on SQLite."""
    valued = [d for d in dims if d.value and d.value(use_facts) is not None]
    summed = [d for d in dims if d not in valued and d.sums and use_facts]
    out: dict = {}
    if valued:
        names = [f"_d{i}" for i in range(len(valued))]
        rows = group_qs.annotate(**{f"_d{i}": d.value(use_facts) for i, d in enumerate(valued)})
        rows = rows.order_by().values_list("pk", *names).iterator(chunk_size=READ_CHUNK)
        ids, counters = [], [Counter() for _d in valued]
        # In chunks, column by column (C-speed counting), so memory stays bounded for a
        # group as large as all customers.
        while chunk := list(itertools.islice(rows, READ_CHUNK)):
            columns = list(zip(*chunk, strict=True))
            ids.extend(columns[0])
            for counter, column in zip(counters, columns[1:], strict=True):
                counter.update(column)
        for dim, counter in zip(valued, counters, strict=True):
            counts: dict = {}
            for v, n in counter.items():
                key = _value_key(v)
                counts[key] = counts.get(key, 0) + n
            out[dim.key] = counts
    else:
        ids = list(group_qs.order_by().values_list("pk", flat=True))
    among = _customers_among(ids)
    if summed:
        sums = among.aggregate(**{k: v for d in summed for k, v in _sums(d.sums).items()})
        for dim in summed:
            out[dim.key] = _from_sums(dim.sums, sums)
    for dim in dims:
        if dim.key not in out:
            out[dim.key] = dim.counts(among, use_facts)
    return out, len(ids)


def _customers_among(ids: list[int]) -> QuerySet:
    """The customers with these ids, passed as one parameter (an array, or JSON text on
    SQLite): no IN list with a placeholder per id, however large the group."""
    ids_sql, param = bulk.list_table(ids)
    return Customer.objects.filter(pk__in=RawSQL(f"SELECT id FROM {ids_sql}", (param,)))


def analysis_tables(analysis: dict):
    from guanxi.analytics.reports import Table

    tables = []
    for dim in analysis["dimensions"]:
        unit = _("Orders") if dim["unit"] == "orders" else _("Customers")
        tables.append(
            Table(
                name=f"group-{dim['key']}",
                title=dim["label"],
                headers=[
                    dim["label"],
                    _("%(unit)s in group") % {"unit": unit},
                    _("Share in group %"),
                    _("%(unit)s in all") % {"unit": unit},
                    _("Share in all %"),
                    _("Lift"),
                ],
                rows=[
                    [r["label"], r["group"], r["group_share"], r["all"], r["all_share"], r["lift"]]
                    for r in dim["rows"]
                ],
            )
        )
    return tables
