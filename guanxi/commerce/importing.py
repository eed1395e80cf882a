"""Order history import: a CSV (UTF-8 or GB18030) or XLSX file, one row per order line,
grouped into orders, turned into order events and fed through ``order_ingest_events``
(source "import") — the same path as the webhook and the API.

All or nothing: every row is checked first (a report of row, column and reason); with
any bad row nothing is written unless ``skip_bad_rows``, and then every order with a
bad row is left out whole. Importing the same file twice changes nothing (the events
are recognised as already received).

Amount columns (discount, shipping, paid, refunded) belong to the row's line; an
order's amounts are the sums over its rows. A row without a unit price gets its paid
amount divided by its quantity, so a file like CDNOW's (buyer, date, CDs, dollars) is
accepted as it is.
"""

import dataclasses
import decimal
import io
import re
from collections.abc import Callable

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, require
from guanxi.commerce import services
from guanxi.commerce.models import Order, OrderEvent, Store, StoreBuyer
from guanxi.core.errors import ValidationFailed
from guanxi.core.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.customers.importing import UnreadableFile, open_table
from guanxi.customers.models import Customer

MAX_REPORTED_ERRORS = 10_000
PROGRESS_EVERY = 1000  # rows between two progress reports
ZERO = decimal.Decimal("0.00")

# field: (English header, Chinese header, other aliases...)
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": ("Order ID", "订单号", "order number", "order no", "订单编号", "订单id"),
    "store": ("Store", "店铺", "store code", "店铺编码", "shop"),
    "buyer_id": ("Buyer ID", "买家ID", "buyer", "customer id", "买家", "会员id", "买家昵称"),
    "phone": ("Phone", "手机", "手机号", "mobile", "电话", "联系电话"),
    "email": ("E-mail", "邮箱", "email", "电子邮箱"),
    "name": ("Name", "姓名", "收货人", "buyer name", "customer name"),
    "province": ("Province", "省份", "省"),
    "city": ("City", "城市", "市"),
    "placed_at": ("Placed at", "下单时间", "order date", "created at", "创建时间", "date"),
    "paid_at": ("Paid at", "付款时间", "payment date", "支付时间"),
    "shipped_at": ("Shipped at", "发货时间"),
    "received_at": ("Received at", "收货时间", "确认收货时间"),
    "cancelled_at": ("Cancelled at", "取消时间", "关闭时间"),
    "refunded_at": ("Refunded at", "退款时间"),
    "sku": ("SKU", "商品编码", "商家编码", "product code"),
    "product_name": ("Product name", "商品名称", "product", "宝贝标题", "item"),
    "quantity": ("Quantity", "数量", "qty", "购买数量", "cds"),
    "unit_price": ("Unit price", "单价", "price", "商品单价"),
    "unit_cost": ("Unit cost", "成本", "cost", "成本价"),
    "discount": ("Discount", "优惠", "优惠金额", "折扣"),
    "shipping": ("Shipping", "运费", "邮费"),
    "paid_amount": ("Paid amount", "实付金额", "实付款", "paid", "amount", "dollars", "金额"),
    "refunded_amount": ("Refunded amount", "退款金额", "refund"),
}
TIME_COLUMNS = ("placed_at", "paid_at", "shipped_at", "received_at", "cancelled_at", "refunded_at")
MONEY_COLUMNS = (
    "unit_price",
    "unit_cost",
    "discount",
    "shipping",
    "paid_amount",
    "refunded_amount",
)


def _norm(header: str) -> str:
    return re.sub(r"[\s_*＊:：()（）\-.]+", "", str(header).strip().lower())


_ALIASES = {_norm(label): key for key, labels in COLUMNS.items() for label in (key, *labels)}


def detect_mapping(headers: list[str]) -> dict[str, str]:
    """{header: field or ""}; the first column for a field wins."""
    mapping, used = {}, set()
    for header in headers:
        target = _ALIASES.get(_norm(header), "")
        if target in used:
            target = ""
        mapping[header] = target
        if target:
            used.add(target)
    return mapping


@dataclasses.dataclass
class Report:
    total_rows: int = 0
    orders: int = 0
    lines: int = 0  # rows of the orders that are imported (one row = one order line)
    new_orders: int = 0  # orders the store does not know yet
    new_customers: int = 0  # buyers matching no customer: created when written
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped_rows: int = 0
    written: bool = False
    errors: list[dict] = dataclasses.field(default_factory=list)
    columns: dict[str, str] = dataclasses.field(default_factory=dict)

    def add_error(self, row: int, column: str, message) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"row": row, "column": column, "message": str(message)})


@dataclasses.dataclass
class _Row:
    number: int
    values: dict


@dataclasses.dataclass
class _Order:
    store: Store
    order_id: str
    rows: list = dataclasses.field(default_factory=list)
    bad: bool = False


def _cell_text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


class _RowChecker:
    def __init__(self, *, store: Store | None, mapping: dict, report: Report):
        self.default_store = store
        self.mapping = mapping
        self.report = report
        self.stores: dict[str, Store | None] = {}
        self.header_of = {field: header for header, field in mapping.items() if field}

    def store(self, code: str) -> Store | None:
        if code not in self.stores:
            self.stores[code] = Store.objects.filter(code=code.lower()).first()
        return self.stores[code]

    def check(self, number: int, raw: dict) -> tuple[dict | None, list]:
        """(values, [(column, message)])."""
        errors = []
        values: dict = {}

        def fail(field, message):
            errors.append((self.header_of.get(field, field), message))

        order_id = raw.get("order_id", "")
        if not order_id:
            fail("order_id", _("This field is required."))
        elif len(order_id) > 64:
            fail("order_id", _("At most %(limit)d characters.") % {"limit": 64})
        values["order_id"] = order_id
        code = raw.get("store", "")
        store = self.store(code) if code else self.default_store
        if store is None:
            if code:
                fail("store", _("There is no store “%(value)s”.") % {"value": code})
            else:
                fail("store", _("Name the store (a column or --store)."))
        values["store"] = store
        for field, limit in (
            ("buyer_id", 100),
            ("name", 200),
            ("province", 50),
            ("city", 50),
            ("sku", 64),
            ("product_name", 200),
        ):
            text = raw.get(field, "")
            if len(text) > limit:
                fail(field, _("At most %(limit)d characters.") % {"limit": limit})
            values[field] = text
        for field, fn in (("phone", normalize_phone), ("email", normalize_email)):
            try:
                values[field] = fn(raw.get(field, ""))
            except InvalidValue as exc:
                fail(field, exc)
        if not (values.get("buyer_id") or values.get("phone") or values.get("email")):
            fail("buyer_id", _("A row needs the buyer id, phone or e-mail."))
        for field in TIME_COLUMNS:
            text = raw.get(field, "")
            values[field] = None
            if text:
                try:
                    values[field] = services.parse_time(_compact_date(text))
                except InvalidValue as exc:
                    fail(field, exc)
        if not (raw.get("placed_at") or raw.get("paid_at")):
            fail("placed_at", _("A row needs the time the order was placed or paid."))
        for field in MONEY_COLUMNS:
            text = raw.get(field, "")
            values[field] = None
            if text:
                try:
                    values[field] = services.parse_money(text)
                except InvalidValue as exc:
                    fail(field, exc)
        text = raw.get("quantity", "")
        values["quantity"] = 1
        if text:
            try:
                values["quantity"] = services.parse_quantity(text)
            except InvalidValue as exc:
                fail("quantity", exc)
        return (None if errors else values), errors


def _compact_date(text: str) -> str:
    """19970101 → 1997-01-01 (CDNOW and many shop exports)."""
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _first(rows: list, field: str):
    for row in rows:
        value = row.values.get(field)
        if value not in (None, ""):
            return value
    return None


def _sum(rows: list, field: str):
    values = [row.values[field] for row in rows if row.values.get(field) is not None]
    return sum(values, ZERO) if values else None


def _events_for(order: _Order) -> list[dict]:
    rows = order.rows
    buyer = {
        "external_id": _first(rows, "buyer_id") or "",
        "phone": _first(rows, "phone") or "",
        "email": _first(rows, "email") or "",
        "name": _first(rows, "name") or "",
        "province": _first(rows, "province") or "",
        "city": _first(rows, "city") or "",
    }
    items = []
    for row in rows:
        v = row.values
        price = v["unit_price"]
        if price is None:
            paid = v["paid_amount"] or ZERO
            price = (paid / v["quantity"]).quantize(services.CENT)
        item = {
            "sku": v["sku"],
            "name": v["product_name"],
            "quantity": v["quantity"],
            "unit_price": price,
        }
        if v["unit_cost"] is not None:
            item["unit_cost"] = v["unit_cost"]
        items.append(item)
    amounts = {}
    for field, key in (("discount", "discount"), ("shipping", "shipping"), ("paid_amount", "paid")):
        total = _sum(rows, field)
        if total is not None:
            amounts[key] = total
    times = {field: _first(rows, field) for field in TIME_COLUMNS}
    placed_at = times["placed_at"] or times["paid_at"]
    base = {"order_id": order.order_id, "buyer": buyer, "items": items, "amounts": amounts}
    events = [dict(base, event="placed", occurred_at=placed_at)]
    for kind in ("paid", "shipped", "received", "cancelled"):
        if times[f"{kind}_at"] is not None:
            events.append(dict(base, event=kind, occurred_at=times[f"{kind}_at"]))
    refunded = _sum(rows, "refunded_amount")
    if refunded:
        at = times["refunded_at"] or max(t for t in times.values() if t is not None)
        events.append(
            dict(
                base,
                event="refunded",
                occurred_at=at,
                refund={"refund_id": "import", "amount": refunded},
            )
        )
    return events


def check_columns(mapping: dict[str, str]) -> None:
    """Raise ``UnreadableFile`` unless the file has the columns every import needs."""
    mapped = set(mapping.values())
    if "order_id" not in mapped:
        raise UnreadableFile(
            _("The file has no order number column (Order ID / 订单号)."),
        )
    if not ({"placed_at", "paid_at"} & mapped):
        raise UnreadableFile(_("The file has no order time column (Placed at / 下单时间)."))


def _preview(by_store: dict[int, tuple[Store, dict]]) -> tuple[int, int]:
    """(new orders, new customers) the write would make, matching buyers as
    ``services.order_ingest_history`` does (store buyer id, then phone, then e-mail),
    without writing anything."""
    new_orders = new_customers = 0
    phones: set[str] = set()  # of customers that exist or would be created
    emails: set[str] = set()
    firsts_by_store = []
    for store, grouped in by_store.values():
        ids = list(grouped)
        known: set[str] = set()
        for chunk in services.iter_chunks(ids, 500):
            known.update(
                Order.objects.filter(store=store, external_id__in=chunk).values_list(
                    "external_id", flat=True
                )
            )
            known.update(
                OrderEvent.objects.filter(store=store, external_order_id__in=chunk).values_list(
                    "external_order_id", flat=True
                )
            )
        firsts = [
            next((ev for ev in grouped[oid] if ev.has_buyer), None)
            for oid in ids
            if oid not in known
        ]
        firsts = [ev for ev in firsts if ev is not None]
        new_orders += len(ids) - len(known)
        firsts_by_store.append((store, firsts))
    all_firsts = [ev for _store, firsts in firsts_by_store for ev in firsts]
    for chunk in services.iter_chunks(sorted({ev.phone for ev in all_firsts if ev.phone}), 500):
        phones.update(Customer.objects.filter(phone__in=chunk).values_list("phone", flat=True))
    for chunk in services.iter_chunks(sorted({ev.email for ev in all_firsts if ev.email}), 500):
        emails.update(Customer.objects.filter(email__in=chunk).values_list("email", flat=True))
    for store, firsts in firsts_by_store:
        buyers: set[str] = set()
        for chunk in services.iter_chunks(
            sorted({ev.buyer_id for ev in firsts if ev.buyer_id}), 500
        ):
            buyers.update(
                StoreBuyer.objects.filter(store=store, buyer_external_id__in=chunk).values_list(
                    "buyer_external_id", flat=True
                )
            )
        for ev in firsts:
            found = (
                (ev.buyer_id and ev.buyer_id in buyers)
                or (ev.phone and ev.phone in phones)
                or (ev.email and ev.email in emails)
            )
            if not found:
                new_customers += 1
                if ev.phone:
                    phones.add(ev.phone)
                if ev.email:
                    emails.add(ev.email)
            if ev.buyer_id:
                buyers.add(ev.buyer_id)
    return new_orders, new_customers


def order_import(
    *,
    actor,
    fileobj,
    filename: str,
    store: Store | None = None,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check (and unless ``dry_run``, write) an order history file; see the module doc.

    ``progress(rows checked)`` is called every ``PROGRESS_EVERY`` rows and once all rows
    are checked (before anything is written)."""
    require(actor, Action.IMPORT)
    data = fileobj.read()
    table = open_table(io.BytesIO(data), filename)
    mapping = detect_mapping(table.headers)
    report = Report(columns=mapping)
    check_columns(mapping)
    index = [(i, field) for i, field in enumerate(mapping.values()) if field]
    checker = _RowChecker(store=store, mapping=mapping, report=report)
    orders: dict[tuple, _Order] = {}
    bad_orders: set[tuple] = set()
    for number, cells in table.rows:
        report.total_rows += 1
        if progress is not None and report.total_rows % PROGRESS_EVERY == 0:
            progress(report.total_rows)
        raw = {field: _cell_text(cells[i]) if i < len(cells) else "" for i, field in index}
        values, errors = checker.check(number, raw)
        code = raw.get("store", "")
        row_store = checker.store(code) if code else store
        key = (row_store.pk if row_store else code, raw.get("order_id", ""))
        if errors:
            for column, message in errors:
                report.add_error(number, column, message)
            bad_orders.add(key)
            continue
        key = (values["store"].pk, values["order_id"])
        order = orders.get(key)
        if order is None:
            order = orders[key] = _Order(values["store"], values["order_id"])
        order.rows.append(_Row(number, values))
    if bad_orders:
        for key in bad_orders:
            order = orders.pop(key, None)
            if order is not None:
                report.skipped_rows += len(order.rows)
        report.skipped_rows += len({e["row"] for e in report.errors})
    # Turn orders into events and check them as the webhook would.
    by_store: dict[int, tuple[Store, dict]] = {}
    for order in orders.values():
        for raw in _events_for(order):
            event, errors = services.clean_event(raw)
            if errors:  # should not happen after the row checks; reported, not hidden
                for field, messages in errors.items():
                    for message in messages:
                        report.add_error(order.rows[0].number, field, message)
                continue
            grouped = by_store.setdefault(order.store.pk, (order.store, {}))[1]
            grouped.setdefault(order.order_id, []).append(event)
            report.events += 1
    report.orders = len(orders)
    report.lines = sum(len(order.rows) for order in orders.values())
    report.new_orders, report.new_customers = _preview(by_store)
    if progress is not None:
        progress(report.total_rows)
    if dry_run or (report.errors and not skip_bad_rows):
        return report
    try:
        with transaction.atomic():
            for store_obj, grouped in by_store.values():
                applied, duplicates = services.order_ingest_history(
                    store=store_obj, orders=grouped, source="import", actor=actor
                )
                report.applied += applied
                report.duplicates += duplicates
    except ValidationFailed as exc:
        report.applied = report.duplicates = 0
        for field, messages in exc.field_errors.items():
            for message in messages:
                report.add_error(0, field, message)
        return report
    report.written = True
    return report
