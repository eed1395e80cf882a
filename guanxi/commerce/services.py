"""Every write to stores, categories, products and orders.

``order_ingest`` is THE way an order event gets in: the webhook, the API and the order
import all call it, so an event is accepted, refused or recognised as a repeat the same
way wherever it comes from.

Event payloads
==============
Each order event that is *applied* (not a repeat delivery) writes exactly one business
event ``order.<event>`` (``order.placed``, ``order.paid``, ``order.shipped``,
``order.received``, ``order.cancelled``, ``order.refunded``) with ``instance`` = the
Order, ``customer_id`` = the order's customer and this ``payload`` (JSON; money as
strings of Decimal with 2 places, times as ISO 8601 UTC)::

    {
      "order_id": 17,              # our Order pk
      "store_id": 3,
      "external_id": "T1001",      # the shop's order number
      "event": "paid",             # same as the name's suffix
      "event_key": "",             # refund id for refunds, "" otherwise
      "occurred_at": "2024-05-01T10:00:00+00:00",   # when it happened at the shop
      "status": "paid",            # order status after this event
      "previous_status": "placed", # before it ("" when this event created the order)
      "placed_at": "...", "paid_at": "..." | null,  # the order's times after this event
      "currency": "CNY",
      # The order now:
      "paid_amount": "99.00", "refunded_amount": "0.00", "cost_amount": "40.00",
      "item_count": 2,
      # Deltas: what this event changed in the order's *counted* figures. An order
      # counts once it is paid (paid_at set). Summing the deltas of all events of an
      # order gives its final figures, whatever order the events arrived in, so an
      # incremental consumer can just add them:
      "orders_delta": 1,           # 1 when this event made the order count as paid
      "paid_delta": "99.00",       # Δ paid amount counted (0 until paid)
      "refund_delta": "0.00",      # Δ refunded amount (refunds, or cancel after pay)
      "cost_delta": "40.00",       # Δ cost of goods kept (paid cost − refunded cost)
      "items_delta": 2,            # Δ units kept (paid units − refunded units)
      # The lines this event concerns: the order's lines for placed/paid, the refunded
      # lines for refunds ([] otherwise):
      "items": [{"sku": "A1", "quantity": 2, "unit_price": "49.50", "unit_cost": "20.00"}]
    }

So revenue = Σ paid_delta − Σ refund_delta, profit = revenue − Σ cost_delta, units =
Σ items_delta, paid orders = Σ orders_delta (a refunded order stays counted; the
order's ``status`` says it was refunded).

Rules the deltas follow: revenue is counted from the ``paid`` event (``amounts.paid``,
or goods − discount + shipping when absent); ``shipped``/``received`` before ``paid``
move the status but count nothing until ``paid`` arrives. A ``cancelled`` after payment
refunds the rest (refund_delta = paid − refunded so far). A refund adds its amount
(at most what remains paid); when everything paid is refunded the status becomes
``refunded``. ``cancelled`` and ``refunded`` are terminal; otherwise the status is the
furthest of placed < paid < shipped < received, so a late ``placed`` never moves it back.
A repeated delivery (same store, order, event and event_key) emits nothing.

After commit, ``guanxi.analytics.tasks.process_order_events`` is enqueued when it exists.

Customers
=========
The buyer is matched by the store's buyer id (``StoreBuyer``: (store, buyer external
id) → customer), then by phone, then by e-mail; otherwise a customer is created by the
system (owner none, source = the store's channel, audit actor none). The mapping is
written whichever way the customer was found, so later events match by buyer id.
"""

import dataclasses
import datetime
import decimal
import functools
import logging
from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, require, role_of
from guanxi.core import audit, bulk, events
from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.normalize import InvalidValue, name_pinyin, normalize_email, normalize_phone
from guanxi.customers.models import Customer

from .models import (
    Category,
    Order,
    OrderEvent,
    OrderItem,
    Product,
    Store,
    StoreBuyer,
)

log = logging.getLogger(__name__)

KINDS = tuple(OrderEvent.Kind.values)
# The forward states, in the order an order moves through them.
RANK = {"placed": 0, "paid": 1, "shipped": 2, "received": 3}
TERMINAL = frozenset({"cancelled", "refunded"})
TIME_FIELD = {
    "placed": "placed_at",
    "paid": "paid_at",
    "shipped": "shipped_at",
    "received": "received_at",
    "cancelled": "cancelled_at",
    "refunded": "refunded_at",
}
CHANNEL_SOURCE = {
    Store.Channel.TMALL: Customer.Source.TMALL,
    Store.Channel.TAOBAO: Customer.Source.TAOBAO,
    Store.Channel.JD: Customer.Source.JD,
    Store.Channel.PINDUODUO: Customer.Source.PINDUODUO,
    Store.Channel.DOUYIN: Customer.Source.DOUYIN,
    Store.Channel.WEB: Customer.Source.WEBSITE,
    Store.Channel.OFFLINE: Customer.Source.OFFLINE,
    Store.Channel.OTHER: Customer.Source.OTHER,
}
MAX_MONEY = decimal.Decimal("999999999999.99")
CENT = decimal.Decimal("0.01")
ZERO = decimal.Decimal("0.00")
MAX_QUANTITY = 1_000_000
MAX_ITEMS = 1000
MAX_BATCH = 1000
SOURCES = ("webhook", "api", "import")


# Small validators ---------------------------------------------------------------------


class _Errors:
    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message) -> None:
        self.errors.setdefault(self.prefix + field, []).append(str(message))


def _text(raw, *, limit: int) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidValue(_("Expected text."))
    value = str(raw).strip()
    if len(value) > limit:
        raise InvalidValue(_("At most %(limit)d characters.") % {"limit": limit})
    if "\x00" in value:
        raise InvalidValue(_("Contains a character that is not allowed."))
    return value


def parse_money(raw, *, allow_zero: bool = True) -> decimal.Decimal:
    """A non-negative amount with at most 2 decimals, from a number or a string."""
    if isinstance(raw, bool) or raw is None or raw == "":
        raise InvalidValue(_("Expected an amount such as 12.50."))
    try:
        text = str(raw).strip().replace(",", "").lstrip("¥￥$")
        value = decimal.Decimal(text)
    except (decimal.InvalidOperation, ValueError) as exc:
        raise InvalidValue(_("“%(value)s” is not an amount.") % {"value": raw}) from exc
    if not value.is_finite():
        raise InvalidValue(_("“%(value)s” is not an amount.") % {"value": raw})
    if value < 0:
        raise InvalidValue(_("An amount cannot be negative."))
    if value > MAX_MONEY:
        raise InvalidValue(_("The amount is too large."))
    if value != value.quantize(CENT):
        raise InvalidValue(_("At most 2 decimal places."))
    if not allow_zero and value == 0:
        raise InvalidValue(_("The amount must be greater than zero."))
    return value.quantize(CENT)


def parse_quantity(raw) -> int:
    if isinstance(raw, bool):
        raise InvalidValue(_("Expected a whole number."))
    try:
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError
            raw = int(raw)
        value = int(str(raw).strip())
    except (TypeError, ValueError) as exc:
        raise InvalidValue(_("Expected a whole number.")) from exc
    if value < 1 or value > MAX_QUANTITY:
        raise InvalidValue(
            _("Must be between 1 and %(max)d.") % {"max": MAX_QUANTITY},
        )
    return value


def parse_time(raw) -> datetime.datetime:
    """ISO 8601 (or "YYYY-MM-DD HH:MM[:SS]", or a date); naive times are local time."""
    if isinstance(raw, datetime.datetime):
        value = raw
    elif isinstance(raw, datetime.date):
        value = datetime.datetime.combine(raw, datetime.time(0))
    else:
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidValue(_("Expected a time such as 2024-05-01T10:00:00+08:00."))
        text = raw.strip().replace("/", "-")
        try:
            value = parse_datetime(text)
        except ValueError:
            value = None
        if value is None:
            try:
                value = datetime.datetime.combine(
                    datetime.date.fromisoformat(text), datetime.time(0)
                )
            except ValueError as exc:
                raise InvalidValue(
                    _("“%(value)s” is not a time (use 2024-05-01T10:00:00+08:00).") % {"value": raw}
                ) from exc
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value.year < 1970:
        raise InvalidValue(_("“%(value)s” is too far in the past.") % {"value": raw})
    if value > timezone.now() + datetime.timedelta(days=1):
        raise InvalidValue(_("“%(value)s” is in the future.") % {"value": raw})
    return value


# Cleaning an event ----------------------------------------------------------------------


@dataclasses.dataclass
class Line:
    sku: str
    name: str
    quantity: int
    unit_price: decimal.Decimal
    unit_cost: decimal.Decimal | None


@dataclasses.dataclass
class Event:
    """An order event after validation: every value typed and normalised."""

    order_id: str
    event: str
    occurred_at: datetime.datetime
    buyer_id: str = ""
    phone: str = ""
    email: str = ""
    name: str = ""
    province: str = ""
    city: str = ""
    lines: list[Line] = dataclasses.field(default_factory=list)
    amounts: dict[str, decimal.Decimal] = dataclasses.field(default_factory=dict)
    refund_id: str = ""
    refund_amount: decimal.Decimal | None = None
    refund_lines: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    raw: dict = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.refund_id if self.event == "refunded" else ""

    @property
    def has_buyer(self) -> bool:
        return bool(self.buyer_id or self.phone or self.email)


def _plain_json(value):
    """The event as stored on OrderEvent.payload (what was sent, JSON-safe)."""
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def clean_event(raw, *, prefix: str = "") -> tuple[Event | None, dict[str, list[str]]]:
    """Validate one event; returns (event, {}) or (None, {field: [messages]}).

    Field names are dotted paths into the event ("buyer.phone", "items.0.quantity"),
    with ``prefix`` in front for batches ("events.3.")."""
    err = _Errors(prefix)
    if not isinstance(raw, dict):
        return None, {prefix.rstrip(".") or "__all__": [_("An event must be a JSON object.")]}

    def field(name, fn, value, required=False):
        if value in (None, "") and required:
            err.add(name, _("This field is required."))
            return None
        if value in (None, ""):
            return None
        try:
            return fn(value)
        except InvalidValue as exc:
            err.add(name, exc)
            return None

    order_id = field("order_id", lambda v: _text(v, limit=64), raw.get("order_id"), True)
    kind = raw.get("event")
    if kind in (None, ""):
        err.add("event", _("This field is required."))
    elif kind not in KINDS:
        err.add(
            "event",
            _("“%(value)s” is not one of: %(choices)s.")
            % {"value": kind, "choices": ", ".join(KINDS)},
        )
    occurred_at = field("occurred_at", parse_time, raw.get("occurred_at"), True)

    buyer = raw.get("buyer") or {}
    values: dict = {}
    if not isinstance(buyer, dict):
        err.add("buyer", _("Expected an object."))
        buyer = {}
    limits = {"external_id": 100, "name": 200, "province": 50, "city": 50}
    for key, limit in limits.items():
        values[key] = field(f"buyer.{key}", lambda v, n=limit: _text(v, limit=n), buyer.get(key))
    values["phone"] = field(
        "buyer.phone", lambda v: normalize_phone(_text(v, limit=40)), buyer.get("phone")
    )
    values["email"] = field(
        "buyer.email", lambda v: normalize_email(_text(v, limit=254)), buyer.get("email")
    )

    lines: list[Line] = []
    items = raw.get("items") or []
    if not isinstance(items, list):
        err.add("items", _("Expected a list."))
        items = []
    elif len(items) > MAX_ITEMS:
        err.add("items", _("At most %(max)d lines.") % {"max": MAX_ITEMS})
        items = []
    for i, item in enumerate(items):
        p = f"items.{i}."
        if not isinstance(item, dict):
            err.add(f"items.{i}", _("Expected an object."))
            continue
        sku = field(p + "sku", lambda v: _text(v, limit=64), item.get("sku")) or ""
        name = field(p + "name", lambda v: _text(v, limit=200), item.get("name")) or ""
        qty = field(p + "quantity", parse_quantity, item.get("quantity", 1), True)
        price = field(p + "unit_price", parse_money, item.get("unit_price"), True)
        cost = field(p + "unit_cost", parse_money, item.get("unit_cost"))
        if qty is not None and price is not None:
            lines.append(Line(sku, name, qty, price, cost))

    amounts: dict[str, decimal.Decimal] = {}
    raw_amounts = raw.get("amounts") or {}
    if not isinstance(raw_amounts, dict):
        err.add("amounts", _("Expected an object."))
        raw_amounts = {}
    for key in ("goods", "discount", "shipping", "paid"):
        value = field(f"amounts.{key}", parse_money, raw_amounts.get(key))
        if value is not None:
            amounts[key] = value

    refund_id, refund_amount, refund_lines = "", None, []
    refund = raw.get("refund")
    if kind == "refunded":
        if not isinstance(refund, dict):
            err.add("refund", _("A refund needs refund_id and amount."))
        else:
            refund_id = field(
                "refund.refund_id", lambda v: _text(v, limit=64), refund.get("refund_id"), True
            )
            refund_amount = field(
                "refund.amount",
                lambda v: parse_money(v, allow_zero=False),
                refund.get("amount"),
                True,
            )
            ritems = refund.get("items") or []
            if not isinstance(ritems, list):
                err.add("refund.items", _("Expected a list."))
                ritems = []
            for i, item in enumerate(ritems):
                p = f"refund.items.{i}."
                if not isinstance(item, dict):
                    err.add(f"refund.items.{i}", _("Expected an object."))
                    continue
                sku = field(p + "sku", lambda v: _text(v, limit=64), item.get("sku"), True)
                qty = field(p + "quantity", parse_quantity, item.get("quantity"), True)
                if sku and qty:
                    refund_lines.append((sku, qty))
    if err.errors:
        return None, err.errors
    event = Event(
        order_id=order_id,
        event=kind,
        occurred_at=occurred_at,
        buyer_id=values["external_id"] or "",
        phone=values["phone"] or "",
        email=values["email"] or "",
        name=values["name"] or "",
        province=values["province"] or "",
        city=values["city"] or "",
        lines=lines,
        amounts=amounts,
        refund_id=refund_id or "",
        refund_amount=refund_amount,
        refund_lines=refund_lines,
        raw=_plain_json(raw),
    )
    return event, {}


def clean_events(body) -> list[Event]:
    """One event or {"events": [...]}; all valid or ValidationFailed naming every field."""
    if isinstance(body, dict) and "events" in body:
        raw_events = body["events"]
        if not isinstance(raw_events, list) or not raw_events:
            raise ValidationFailed({"events": [_("Expected a non-empty list of events.")]})
        if len(raw_events) > MAX_BATCH:
            raise ValidationFailed(
                {"events": [_("At most %(max)d events in one request.") % {"max": MAX_BATCH}]}
            )
        cleaned, errors = [], {}
        for i, raw in enumerate(raw_events):
            event, event_errors = clean_event(raw, prefix=f"events.{i}.")
            errors.update(event_errors)
            cleaned.append(event)
        if errors:
            raise ValidationFailed(errors)
        return cleaned
    event, errors = clean_event(body)
    if errors:
        raise ValidationFailed(errors)
    return [event]


# Ingesting events ------------------------------------------------------------------------


@dataclasses.dataclass
class IngestResult:
    status: str  # "applied" or "duplicate"
    order: Order | None = None
    order_event: OrderEvent | None = None

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"


def order_ingest(*, store: Store, event: dict, source: str, actor=None) -> IngestResult:
    """Validate one event and apply it (or recognise it as already received).

    ``actor`` None is the system (a webhook verified by its signature); a user needs the
    import permission. Raises ValidationFailed naming the fields; nothing is written then.
    """
    cleaned, errors = clean_event(event)
    if errors:
        raise ValidationFailed(errors)
    return order_ingest_events(store=store, events=[cleaned], source=source, actor=actor)[0]


def order_ingest_body(*, store: Store, body, source: str, actor=None) -> list[IngestResult]:
    """A webhook/API body: one event or {"events": [...]}, all or nothing."""
    return order_ingest_events(store=store, events=clean_events(body), source=source, actor=actor)


def order_ingest_events(
    *, store: Store, events: list[Event], source: str, actor=None
) -> list[IngestResult]:
    """Apply cleaned events in one transaction: all of them, or (ValidationFailed) none."""
    if actor is not None:
        require(actor, Action.IMPORT)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if not store.active:
        raise ValidationFailed({"store": [_("This store is not active.")]})
    ingestor = _Ingestor(store=store, source=source, actor=actor)
    with transaction.atomic():
        results = ingestor.apply_batch(events)
        if any(not r.duplicate for r in results):
            transaction.on_commit(enqueue_stats)
    return results


# The statistics task this process enqueued last, while it has not started: another
# enqueue would only add a run that finds nothing to do (the queued one reads every
# event committed before it starts).
_queued_stats_task = None


def enqueue_stats() -> None:
    """Ask the statistics consumer to read the new order events, if it is installed;
    not again while the task this process enqueued last is still waiting to run."""
    global _queued_stats_task
    try:
        from guanxi.analytics.tasks import process_order_events
    except ImportError:
        return
    try:
        queued = _queued_stats_task
        if queued is not None:
            queued.refresh()
            if queued.status == "READY":
                return
        result = process_order_events.enqueue()
        _queued_stats_task = result if result.status == "READY" else None
    except Exception:  # the order is in; statistics catch up on the next run
        _queued_stats_task = None
        log.exception("could not enqueue process_order_events")


def _money(value) -> str:
    return str(decimal.Decimal(value).quantize(CENT))


def _iso(value) -> str | None:
    return value.astimezone(datetime.UTC).isoformat() if value else None


class _Ingestor:
    """Applies events of one store; keeps small lookups for a batch."""

    def __init__(self, *, store: Store, source: str, actor=None):
        self.store = store
        self.source = source
        self.actor = actor
        self.products: dict[str, Product | None] = {}

    # Customers --------------------------------------------------------------------------

    def customer_for(self, ev: Event) -> Customer:
        store = self.store
        customer = None
        if ev.buyer_id:
            link = (
                StoreBuyer.objects.select_related("customer")
                .filter(store=store, buyer_external_id=ev.buyer_id)
                .first()
            )
            customer = link.customer if link else None
        if customer is None and ev.phone:
            customer = Customer.objects.filter(phone=ev.phone).order_by("pk").first()
        if customer is None and ev.email:
            customer = Customer.objects.filter(email=ev.email).order_by("pk").first()
        if customer is None:
            customer = customer_create_for_buyer(store=store, event=ev)
        if ev.buyer_id:
            StoreBuyer.objects.get_or_create(
                store=store, buyer_external_id=ev.buyer_id, defaults={"customer": customer}
            )
        return customer

    # Products ---------------------------------------------------------------------------

    def product(self, sku: str) -> Product | None:
        if not sku:
            return None
        if sku not in self.products:
            self.products[sku] = Product.objects.filter(sku=sku).first()
        return self.products[sku]

    def prefetch_products(self, evs: Iterable[Event]) -> None:
        skus = {line.sku for ev in evs for line in ev.lines if line.sku} - self.products.keys()
        if skus:
            found = {p.sku: p for p in Product.objects.filter(sku__in=sorted(skus))}
            for sku in skus:
                self.products[sku] = found.get(sku)

    # A batch ----------------------------------------------------------------------------

    def apply_batch(self, evs: list[Event]) -> list[IngestResult]:
        """Apply events in the caller's transaction, in as few statements as the events
        allow: orders the store already has (locked first, in id order) take the
        per-event path (``apply_known``); new orders are built in memory and written
        with bulk inserts (``_History``, the import's fast path), which gives the same
        rows. Should another delivery create one of those orders meanwhile, the new
        orders go event by event instead."""
        store = self.store
        ids = list(dict.fromkeys(ev.order_id for ev in evs))
        known: dict[str, Order] = {}
        for chunk in iter_chunks(ids, 500):
            rows = Order.objects.select_for_update().filter(store=store, external_id__in=chunk)
            known.update((o.external_id, o) for o in rows.order_by("pk"))
        self.prefetch_products(evs)
        new: dict[str, list[Event]] = {}
        for ev in evs:
            if ev.order_id not in known:
                new.setdefault(ev.order_id, []).append(ev)
        for order_evs in new.values():
            if not order_evs[0].has_buyer:
                raise ValidationFailed(
                    {"buyer": [_("A new order needs the buyer's external_id, phone or email.")]}
                )
        outcomes: dict[str, list[IngestResult]] = {}
        if new:
            history = _History(store, self.source, self.actor, ingestor=self)
            try:
                with transaction.atomic():
                    history.write(new)
            except IntegrityError:
                outcomes = {}  # created meanwhile: the events go one by one below
            else:
                outcomes = history.outcomes
        results = []
        for ev in evs:
            if ev.order_id in outcomes:
                results.append(outcomes[ev.order_id].pop(0))
            elif ev.order_id in known:
                results.append(self.apply_known(known[ev.order_id], ev))
            else:
                results.append(self.apply(ev))
        return results

    def apply_known(self, order: Order, ev: Event) -> IngestResult:
        """``ev`` for an order that exists (locked by the caller): the received event
        goes in with its order (or is recognised as a repeat by the unique constraint),
        the order is updated once, and the business event written."""
        order_event = OrderEvent(
            store=self.store,
            external_order_id=ev.order_id,
            event=ev.event,
            event_key=ev.key,
            occurred_at=ev.occurred_at,
            source=self.source,
            payload=ev.raw,
            order=order,
        )
        if not _insert_unless_exists(
            order_event, ("store", "external_order_id", "event", "event_key")
        ):
            return IngestResult("duplicate", order)
        lines = list(order.items.order_by("pk"))  # as they came: the payload lists them so
        previous_status = order.status
        before = _counted(order, lines)
        touched = self._change(order, lines, ev, created=False)
        after = _counted(order, lines)
        order.updated_at = timezone.now()
        order.save()
        if touched:
            OrderItem.objects.bulk_update(touched, ["refunded_quantity"])
        payload = event_payload(order, ev, previous_status, before, after, lines)
        events.emit(
            f"order.{ev.event}",
            instance=order,
            actor=self.actor,
            customer_id=order.customer_id,
            payload=payload,
        )
        return IngestResult("applied", order, order_event)

    # One event --------------------------------------------------------------------------

    def apply(self, ev: Event) -> IngestResult:
        store = self.store
        order_event = OrderEvent(
            store=store,
            external_order_id=ev.order_id,
            event=ev.event,
            event_key=ev.key,
            occurred_at=ev.occurred_at,
            source=self.source,
            payload=ev.raw,
        )
        try:
            with transaction.atomic():
                order_event.save()
        except IntegrityError:
            existing = Order.objects.filter(store=store, external_id=ev.order_id).first()
            return IngestResult("duplicate", existing)

        order = Order.objects.select_for_update().filter(store=store, external_id=ev.order_id)
        order = order.first()
        created = order is None
        if created:
            if not ev.has_buyer:
                raise ValidationFailed(
                    {"buyer": [_("A new order needs the buyer's external_id, phone or email.")]}
                )
            order = Order(
                store=store,
                external_id=ev.order_id,
                customer=self.customer_for(ev),
                buyer_external_id=ev.buyer_id,
                status="placed",
                currency=store.currency,
                placed_at=ev.occurred_at,
            )
            try:
                with transaction.atomic():
                    order.save()
            except IntegrityError:
                # Another delivery created it a moment ago: apply to that one.
                created = False
                order = (
                    Order.objects.select_for_update()
                    .filter(store=store, external_id=ev.order_id)
                    .get()
                )
        lines = [] if created else list(order.items.order_by("pk"))
        previous_status = "" if created else order.status
        before = _counted(order, lines)
        touched = self._change(order, lines, ev, created=created)
        after = _counted(order, lines)
        order.updated_at = timezone.now()
        order.save()
        if touched:
            OrderItem.objects.bulk_update(touched, ["refunded_quantity"])
        order_event.order = order
        order_event.save(update_fields=["order"])

        payload = event_payload(order, ev, previous_status, before, after, lines)
        events.emit(
            f"order.{ev.event}",
            instance=order,
            actor=self.actor,
            customer_id=order.customer_id,
            payload=payload,
        )
        return IngestResult("applied", order, order_event)

    def _change(
        self, order: Order, lines: list, ev: Event, *, created: bool, persist: bool = True
    ) -> list:
        """Apply ``ev`` to ``order`` (and its ``lines``) in memory; returns the lines
        whose refunded quantity changed (new lines are saved here)."""
        touched: dict[int, OrderItem] = {}
        at = ev.occurred_at
        # Times: filled whichever order the events arrive in.
        if ev.event == "placed":
            order.placed_at = min(order.placed_at, at)
        elif ev.event == "refunded":
            order.refunded_at = max(order.refunded_at, at) if order.refunded_at else at
        else:
            field = TIME_FIELD[ev.event]
            current = getattr(order, field)
            setattr(order, field, min(current, at) if current else at)
            order.placed_at = min(order.placed_at, at)
        if not order.buyer_external_id and ev.buyer_id:
            order.buyer_external_id = ev.buyer_id

        # Lines: the first event that has them sets them.
        if not lines and ev.lines:
            for line in ev.lines:
                product = self.product(line.sku)
                unit_cost = line.unit_cost
                if unit_cost is None:
                    unit_cost = product.cost if product else ZERO
                lines.append(
                    OrderItem(
                        order=order,
                        product=product,
                        sku=line.sku,
                        name=line.name or (product.name if product else "") or line.sku,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        amount=(line.unit_price * line.quantity).quantize(CENT),
                        unit_cost=unit_cost,
                    )
                )
            if persist:
                OrderItem.objects.bulk_create(lines)
            order.item_count = sum(line.quantity for line in lines)
            order.cost_amount = sum((line.unit_cost * line.quantity for line in lines), ZERO)
            if "goods" not in ev.amounts and not order.goods_amount:
                order.goods_amount = sum((line.amount for line in lines), ZERO)

        # Amounts sent with any event describe the order; paid only with "paid".
        for key in ("goods", "discount", "shipping"):
            if key in ev.amounts:
                setattr(order, f"{key}_amount", ev.amounts[key])
        if ev.event == "paid":
            paid = ev.amounts.get("paid")
            if paid is None:
                paid = max(order.goods_amount - order.discount_amount + order.shipping_amount, ZERO)
            order.paid_amount = paid

        if ev.event == "refunded":
            amount = ev.refund_amount
            if order.status not in TERMINAL and order.paid_at is not None:
                remaining = order.paid_amount - order.refunded_amount
                if amount > remaining:
                    raise ValidationFailed(
                        {
                            "refund.amount": [
                                _("More than the %(amount)s still paid on this order.")
                                % {"amount": _money(remaining)}
                            ]
                        }
                    )
            order.refunded_amount += amount
            by_sku: dict[str, list[OrderItem]] = {}
            for line in lines:
                by_sku.setdefault(line.sku, []).append(line)
            for i, (sku, quantity) in enumerate(ev.refund_lines):
                if not lines:
                    break  # an order known without lines: the amount is what counts
                candidates = by_sku.get(sku)
                if not candidates:
                    raise ValidationFailed(
                        {f"refund.items.{i}.sku": [_("This order has no line with this SKU.")]}
                    )
                left = quantity
                for line in candidates:
                    take = min(left, line.quantity - line.refunded_quantity)
                    if take > 0:
                        line.refunded_quantity += take
                        touched[line.pk] = line
                        left -= take
                if left:
                    raise ValidationFailed(
                        {
                            f"refund.items.{i}.quantity": [
                                _("More than was bought and not yet refunded.")
                            ]
                        }
                    )

        # Status: terminal states stay; otherwise the furthest forward state.
        if order.status not in TERMINAL or created:
            if ev.event == "cancelled":
                order.status = "cancelled"
            elif ev.event in RANK and (created or RANK[ev.event] > RANK[order.status]):
                order.status = ev.event
        # What cancelled / refunded mean for the money, the same in any arrival order.
        paid = order.paid_at is not None
        if paid and order.status == "cancelled":
            order.refunded_amount = order.paid_amount
            order.refunded_at = order.refunded_at or order.cancelled_at
        elif paid and order.paid_amount > 0 and order.refunded_amount >= order.paid_amount:
            order.status = "refunded"
        if paid and order.refunded_amount > order.paid_amount:
            order.refunded_amount = order.paid_amount
        if order.status in TERMINAL and paid and order.refunded_amount >= order.paid_amount:
            for line in lines:
                if line.refunded_quantity != line.quantity:
                    line.refunded_quantity = line.quantity
                    touched[line.pk] = line
        return [line for line in touched.values() if line.pk]


_PLAIN_FIELDS = (
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "DecimalField",
    "ForeignKey",
    "IntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "TextField",
)


def _bulk_insert(model, objs: list, *, batch: int = 500) -> None:
    """Insert ``objs`` with one ``INSERT … RETURNING id`` per batch (rows from
    ``bulk.rows_source``: ``VALUES`` on SQLite, one array per column on PostgreSQL, as
    Django's own ``bulk_create`` there; the ids come back in the rows' order) and set
    their pks, as ``bulk_create`` does but without compiling every value through the ORM: plain
    values (text, numbers, keys) go to the driver as they are, the others (times, JSON)
    through their field's ``get_db_prep_save``. Model defaults are already on the
    objects (set when they were built); no signals, as with ``bulk_create``."""
    if not objs:
        return
    meta = model._meta
    qn = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    plain = [f.get_internal_type() in _PLAIN_FIELDS for f in fields]
    attnames = [f.attname for f in fields]
    columns = [f.column for f in fields]
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            rows = []
            for obj in chunk:
                row = []
                for field, is_plain, attname in zip(fields, plain, attnames, strict=True):
                    value = getattr(obj, attname)
                    row.append(
                        value
                        if is_plain or value is None
                        else field.get_db_prep_save(value, connection)
                    )
                rows.append(row)
            source, params = bulk.rows_source(model, columns, rows)
            cursor.execute(
                f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
                f"{source} RETURNING {qn(meta.pk.column)}",
                params,
            )
            for obj, row in zip(chunk, cursor.fetchall(), strict=True):
                obj.pk = row[0]
                obj._state.adding = False
                obj._state.db = connection.alias


def _insert_unless_exists(obj, unique: tuple[str, ...]) -> bool:
    """``INSERT … ON CONFLICT (unique) DO NOTHING RETURNING id`` (both databases): one
    statement, no savepoint; sets ``obj.pk`` and returns True when the row went in."""
    meta = obj._meta
    qn = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    conflict = ", ".join(qn(meta.get_field(name).column) for name in unique)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {qn(meta.pk.column)}",
            values,
        )
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    return True


def event_payload(order, ev: Event, previous_status: str, before: dict, after: dict, lines) -> dict:
    """The business event's payload (see "Event payloads" at the top)."""
    return {
        "order_id": order.pk,
        "store_id": order.store_id,
        "external_id": order.external_id,
        "event": ev.event,
        "event_key": ev.key,
        "occurred_at": _iso(ev.occurred_at),
        "status": order.status,
        "previous_status": previous_status,
        "placed_at": _iso(order.placed_at),
        "paid_at": _iso(order.paid_at),
        "currency": order.currency,
        "paid_amount": _money(order.paid_amount),
        "refunded_amount": _money(order.refunded_amount),
        "cost_amount": _money(order.cost_amount),
        "item_count": order.item_count,
        "orders_delta": after["orders"] - before["orders"],
        "paid_delta": _money(after["paid"] - before["paid"]),
        "refund_delta": _money(after["refund"] - before["refund"]),
        "cost_delta": _money(after["cost"] - before["cost"]),
        "items_delta": after["items"] - before["items"],
        "items": _payload_items(ev, lines),
    }


def _counted(order: Order, lines: list) -> dict:
    """The order's figures as statistics count them (see "Event payloads")."""
    paid = order.paid_at is not None
    refunded_cost = sum((line.unit_cost * line.refunded_quantity for line in lines), ZERO)
    refunded_units = sum(line.refunded_quantity for line in lines)
    return {
        "orders": 1 if paid else 0,
        "paid": order.paid_amount if paid else ZERO,
        "refund": order.refunded_amount,
        "cost": (order.cost_amount - refunded_cost) if paid else ZERO,
        "items": (order.item_count - refunded_units) if paid else 0,
    }


def _payload_items(ev: Event, lines: list) -> list[dict]:
    if ev.event in ("placed", "paid"):
        return [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price),
                "unit_cost": _money(line.unit_cost),
            }
            for line in lines
        ]
    if ev.event == "refunded":
        prices = {line.sku: line for line in lines}
        out = []
        for sku, quantity in ev.refund_lines:
            line = prices.get(sku)
            out.append(
                {
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price": _money(line.unit_price) if line else "0.00",
                    "unit_cost": _money(line.unit_cost) if line else "0.00",
                }
            )
        return out
    return []


def customer_create_for_buyer(*, store: Store, event: Event) -> Customer:
    """The system creates a customer for a buyer it has never seen: no owner (unassigned),
    source = the store's channel, audit entry with no actor ("system")."""
    name = (event.name or event.buyer_id or event.phone or event.email)[:200]
    customer = Customer(
        name=name,
        phone=event.phone,
        email=event.email,
        province=event.province,
        city=event.city,
        source=CHANNEL_SOURCE.get(store.channel, Customer.Source.OTHER),
        stage=Customer.Stage.CUSTOMER,
    )
    customer.name_pinyin, customer.name_initials = name_pinyin(customer.name)
    customer.save()
    audit.record(
        actor=None,
        action="create",
        instance=customer,
        changes={
            k: [None, v]
            for k, v in audit.snapshot(
                customer, ["name", "phone", "email", "province", "city", "source", "stage"]
            ).items()
            if v not in (None, "")
        },
        note=_("Created from order %(order)s of store %(store)s")
        % {"order": event.order_id, "store": store.code},
    )
    events.emit(
        "customer.created",
        instance=customer,
        customer_id=customer.pk,
        payload={"by": "order", "store_id": store.pk},
    )
    return customer


# Stores, categories, products --------------------------------------------------------------

STORE_FIELDS = [
    "code",
    "name",
    "channel",
    "currency",
    "dormant_after_days",
    "lost_after_days",
    "p_alive_threshold",
    "active",
]


def _require_store_admin(actor) -> None:
    if role_of(actor).key not in ("admin", "manager"):
        raise PermissionDenied()


def _int(raw, *, low: int, high: int) -> int:
    if isinstance(raw, bool):
        raise InvalidValue(_("Expected a whole number."))
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError) as exc:
        raise InvalidValue(_("Expected a whole number.")) from exc
    if not low <= value <= high:
        raise InvalidValue(_("Must be between %(low)d and %(high)d.") % {"low": low, "high": high})
    return value


def _bool(raw) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on", "是"):
        return True
    if text in ("0", "false", "no", "off", "否", ""):
        return False
    raise InvalidValue(_("Expected yes or no."))


def clean_store_input(data: dict, *, instance: Store | None = None) -> tuple[dict, dict]:
    partial = instance is not None
    cleaned, err = {}, _Errors()

    def present(key):
        return key in data or not partial

    if present("code"):
        code = str(data.get("code") or "").strip().lower()
        if not code:
            err.add("code", _("This field is required."))
        elif len(code) > 50 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
            err.add("code", _("Use at most 50 letters, digits, “-” or “_”."))
        elif Store.objects.filter(code=code).exclude(pk=getattr(instance, "pk", None)).exists():
            err.add("code", _("Another store has this code."))
        cleaned["code"] = code
    if present("name"):
        name = str(data.get("name") or "").strip()
        if not name:
            err.add("name", _("This field is required."))
        elif len(name) > 100:
            err.add("name", _("At most %(limit)d characters.") % {"limit": 100})
        cleaned["name"] = name
    if present("channel"):
        channel = str(data.get("channel") or "").strip()
        if channel not in Store.Channel.values:
            err.add(
                "channel",
                _("“%(value)s” is not one of: %(choices)s.")
                % {"value": channel, "choices": ", ".join(Store.Channel.values)},
            )
        cleaned["channel"] = channel
    if "currency" in data or not partial:
        currency = str(data.get("currency") or "CNY").strip().upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            err.add("currency", _("Use a three-letter currency code such as CNY."))
        cleaned["currency"] = currency
    for key, default in (("dormant_after_days", 180), ("lost_after_days", 365)):
        if key in data or not partial:
            try:
                cleaned[key] = _int(data.get(key, default), low=1, high=3650)
            except InvalidValue as exc:
                err.add(key, exc)
    if "p_alive_threshold" in data or not partial:
        raw = data.get("p_alive_threshold", 0.2)
        try:
            value = float(raw)
            if isinstance(raw, bool) or not 0 <= value <= 1:
                raise ValueError
            cleaned["p_alive_threshold"] = value
        except (TypeError, ValueError):
            err.add("p_alive_threshold", _("Use a number between 0 and 1."))
    if "active" in data:
        try:
            cleaned["active"] = _bool(data["active"])
        except InvalidValue as exc:
            err.add("active", exc)
    dormant = cleaned.get("dormant_after_days", getattr(instance, "dormant_after_days", None))
    lost = cleaned.get("lost_after_days", getattr(instance, "lost_after_days", None))
    if dormant and lost and lost <= dormant and "lost_after_days" not in err.errors:
        err.add("lost_after_days", _("Must be more days than “dormant after”."))
    return cleaned, err.errors


@transaction.atomic
def store_create(*, actor, data: dict) -> Store:
    _require_store_admin(actor)
    cleaned, errors = clean_store_input(data)
    if errors:
        raise ValidationFailed(errors)
    store = Store(**cleaned, webhook_secret=Store.new_secret())
    store.save()
    audit.record(
        actor=actor,
        action="create",
        instance=store,
        changes={k: [None, v] for k, v in audit.snapshot(store, STORE_FIELDS).items()},
    )
    return store


@transaction.atomic
def store_update(*, actor, store: Store, data: dict) -> Store:
    _require_store_admin(actor)
    cleaned, errors = clean_store_input(data, instance=store)
    if errors:
        raise ValidationFailed(errors)
    audit.update_and_record(actor=actor, instance=store, cleaned=cleaned, fields=STORE_FIELDS)
    return store


@transaction.atomic
def store_rotate_secret(*, actor, store: Store) -> Store:
    """A new webhook secret; deliveries signed with the old one are refused from now on."""
    _require_store_admin(actor)
    store.webhook_secret = Store.new_secret()
    store.save(update_fields=["webhook_secret"])
    # The secret itself never goes into the audit log.
    audit.record(
        actor=actor,
        action="update",
        instance=store,
        changes={"webhook_secret": ["***", "***"]},
        note="rotated",
    )
    return store


def store_get(*, id: int) -> Store:
    store = Store.objects.filter(pk=id).first()
    if store is None:
        raise NotFound(_("Store not found."))
    return store


def _category_parent(raw, instance: Category | None, err: _Errors):
    if raw in (None, ""):
        return None
    try:
        parent = Category.objects.filter(pk=int(raw)).first()
    except (TypeError, ValueError):
        parent = None
    if parent is None:
        err.add("parent", _("There is no such category."))
        return None
    if instance is not None:
        node = parent
        while node is not None:
            if node.pk == instance.pk:
                err.add("parent", _("A category cannot be inside itself."))
                return None
            node = node.parent
    return parent


@transaction.atomic
def category_create(*, actor, data: dict) -> Category:
    require(actor, Action.MANAGE_SETTINGS)
    err = _Errors()
    name = str(data.get("name") or "").strip()
    if not name:
        err.add("name", _("This field is required."))
    elif len(name) > 100:
        err.add("name", _("At most %(limit)d characters.") % {"limit": 100})
    parent = _category_parent(data.get("parent"), None, err)
    if not err.errors and Category.objects.filter(parent=parent, name=name).exists():
        err.add("name", _("This category already exists here."))
    if err.errors:
        raise ValidationFailed(err.errors)
    category = Category.objects.create(name=name, parent=parent)
    audit.record(
        actor=actor,
        action="create",
        instance=category,
        changes={"name": [None, name], "parent": [None, str(parent) if parent else None]},
    )
    return category


@transaction.atomic
def category_update(*, actor, category: Category, data: dict) -> Category:
    require(actor, Action.MANAGE_SETTINGS)
    err = _Errors()
    before = audit.snapshot(category, ["name", "parent"])
    if "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            err.add("name", _("This field is required."))
        elif len(name) > 100:
            err.add("name", _("At most %(limit)d characters.") % {"limit": 100})
        category.name = name
    if "parent" in data:
        category.parent = _category_parent(data.get("parent"), category, err)
    if (
        not err.errors
        and Category.objects.filter(parent=category.parent, name=category.name)
        .exclude(pk=category.pk)
        .exists()
    ):
        err.add("name", _("This category already exists here."))
    if err.errors:
        raise ValidationFailed(err.errors)
    category.save()
    changes = audit.diff(before, audit.snapshot(category, ["name", "parent"]))
    if changes:
        audit.record(actor=actor, action="update", instance=category, changes=changes)
    return category


PRODUCT_FIELDS = ["sku", "name", "category", "price", "cost", "active"]


def clean_product_input(data: dict, *, instance: Product | None = None) -> tuple[dict, dict]:
    partial = instance is not None
    cleaned, err = {}, _Errors()
    if "sku" in data or not partial:
        try:
            sku = _text(data.get("sku"), limit=64)
            if not sku:
                err.add("sku", _("This field is required."))
            elif Product.objects.filter(sku=sku).exclude(pk=getattr(instance, "pk", None)).exists():
                err.add("sku", _("Another product has this SKU."))
            cleaned["sku"] = sku
        except InvalidValue as exc:
            err.add("sku", exc)
    if "name" in data or not partial:
        try:
            name = _text(data.get("name"), limit=200)
            if not name:
                err.add("name", _("This field is required."))
            cleaned["name"] = name
        except InvalidValue as exc:
            err.add("name", exc)
    for key in ("price", "cost"):
        if key in data or not partial:
            raw = data.get(key)
            try:
                cleaned[key] = ZERO if raw in (None, "") else parse_money(raw)
            except InvalidValue as exc:
                err.add(key, exc)
    if "category" in data:
        cleaned["category"] = _category_parent(data.get("category"), None, _Errors())
        if data.get("category") not in (None, "") and cleaned["category"] is None:
            err.add("category", _("There is no such category."))
    if "active" in data:
        try:
            cleaned["active"] = _bool(data["active"])
        except InvalidValue as exc:
            err.add("active", exc)
    return cleaned, err.errors


@transaction.atomic
def product_create(*, actor, data: dict) -> Product:
    require(actor, Action.MANAGE_SETTINGS)
    cleaned, errors = clean_product_input(data)
    if errors:
        raise ValidationFailed(errors)
    product = Product.objects.create(**cleaned)
    audit.record(
        actor=actor,
        action="create",
        instance=product,
        changes={k: [None, v] for k, v in audit.snapshot(product, PRODUCT_FIELDS).items()},
    )
    return product


@transaction.atomic
def product_update(*, actor, product: Product, data: dict) -> Product:
    require(actor, Action.MANAGE_SETTINGS)
    cleaned, errors = clean_product_input(data, instance=product)
    if errors:
        raise ValidationFailed(errors)
    audit.update_and_record(actor=actor, instance=product, cleaned=cleaned, fields=PRODUCT_FIELDS)
    return product


def iter_chunks(items: Iterable, size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# Bulk history import ---------------------------------------------------------------------------


def order_ingest_history(
    *, store: Store, orders: dict[str, list[Event]], source: str = "import", actor=None
) -> tuple[int, int]:
    """The import's fast path, same results as feeding every event to ``order_ingest``.

    Orders the store already knows (an Order or any received event) go through the
    normal path event by event. New orders are built in memory by the same rules
    (``_Ingestor._change``) and written with bulk inserts: customers (with their audit
    entries and ``customer.created`` events), orders, lines, order events and business
    events. Returns (applied events, duplicate events). All or nothing."""
    if actor is not None:
        require(actor, Action.IMPORT)
    if not store.active:
        raise ValidationFailed({"store": [_("This store is not active.")]})
    applied = duplicates = 0
    with transaction.atomic():
        ids = list(orders)
        known: set[str] = set()
        for chunk in iter_chunks(ids, 500):
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
        slow = [ev for oid in ids if oid in known for ev in orders[oid]]
        if slow:
            for result in order_ingest_events(store=store, events=slow, source=source, actor=actor):
                if result.duplicate:
                    duplicates += 1
                else:
                    applied += 1
        new = [oid for oid in ids if oid not in known]
        if new:
            a, d = _History(store, source, actor).write({oid: orders[oid] for oid in new})
            applied += a
            duplicates += d
            transaction.on_commit(enqueue_stats)
    return applied, duplicates


class _History:
    def __init__(self, store: Store, source: str, actor, *, ingestor=None):
        self.store = store
        self.source = source
        self.actor = actor if getattr(actor, "pk", None) else None
        self.ingestor = ingestor or _Ingestor(store=store, source=source, actor=actor)
        self.now = timezone.now()
        # {order id: [IngestResult of each of its events, in the order given]}
        self.outcomes: dict[str, list[IngestResult]] = {}

    def _buyers(self, firsts: dict[str, Event]) -> dict[str, int]:
        """{order id: customer id}, matching as ``_Ingestor.customer_for`` does."""
        store = self.store
        buyer_ids = {ev.buyer_id for ev in firsts.values() if ev.buyer_id}
        phones = {ev.phone for ev in firsts.values() if ev.phone}
        emails = {ev.email for ev in firsts.values() if ev.email}
        by_buyer: dict[str, int] = {}
        for chunk in iter_chunks(buyer_ids, 500):
            rows = StoreBuyer.objects.filter(store=store, buyer_external_id__in=chunk)
            by_buyer.update(rows.values_list("buyer_external_id", "customer_id"))
        by_phone: dict[str, int] = {}
        for chunk in iter_chunks(phones, 500):
            rows = Customer.objects.filter(phone__in=chunk).order_by("-pk")
            by_phone.update(rows.values_list("phone", "pk"))  # the lowest pk wins
        by_email: dict[str, int] = {}
        for chunk in iter_chunks(emails, 500):
            rows = Customer.objects.filter(email__in=chunk).order_by("-pk")
            by_email.update(rows.values_list("email", "pk"))
        new_links: dict[str, object] = {}
        result: dict[str, object] = {}
        created: list[tuple[Customer, Event]] = []
        for oid, ev in firsts.items():
            found = None
            if ev.buyer_id:
                found = by_buyer.get(ev.buyer_id)
            if found is None and ev.phone:
                found = by_phone.get(ev.phone)
            if found is None and ev.email:
                found = by_email.get(ev.email)
            if found is None:
                name = (ev.name or ev.buyer_id or ev.phone or ev.email)[:200]
                customer = Customer(
                    name=name,
                    phone=ev.phone,
                    email=ev.email,
                    province=ev.province,
                    city=ev.city,
                    source=CHANNEL_SOURCE.get(store.channel, Customer.Source.OTHER),
                    stage=Customer.Stage.CUSTOMER,
                    created_at=self.now,
                    updated_at=self.now,
                )
                customer.name_pinyin, customer.name_initials = _pinyin(name)
                created.append((customer, ev))
                found = customer
                if ev.phone:
                    by_phone.setdefault(ev.phone, customer)
                if ev.email:
                    by_email.setdefault(ev.email, customer)
            if ev.buyer_id and ev.buyer_id not in by_buyer:
                by_buyer[ev.buyer_id] = found
                new_links[ev.buyer_id] = found
            result[oid] = found
        for chunk in iter_chunks([c for c, _ev in created], 2000):
            Customer.objects.bulk_create(chunk)
        from guanxi.core.models import AuditEntry, BusinessEvent

        fields = ["name", "phone", "email", "province", "city", "source", "stage"]
        AuditEntry.objects.bulk_create(
            [
                AuditEntry(
                    at=self.now,
                    actor=None,
                    action="create",
                    model="customers.customer",
                    object_id=c.pk,
                    object_repr=str(c)[:200],
                    changes={
                        k: [None, v]
                        for k, v in audit.snapshot(c, fields).items()
                        if v not in (None, "")
                    },
                    note=(
                        _("Created from order %(order)s of store %(store)s")
                        % {"order": ev.order_id, "store": store.code}
                    )[:500],
                )
                for c, ev in created
            ],
            batch_size=2000,
        )
        BusinessEvent.objects.bulk_create(
            [
                BusinessEvent(
                    name="customer.created",
                    occurred_at=self.now,
                    model="customers.customer",
                    object_id=c.pk,
                    customer_id=c.pk,
                    payload={"by": "order", "store_id": store.pk},
                )
                for c, _ev in created
            ],
            batch_size=2000,
        )
        StoreBuyer.objects.bulk_create(
            [
                StoreBuyer(
                    store=store,
                    buyer_external_id=b,
                    customer_id=c if isinstance(c, int) else c.pk,
                    created_at=self.now,
                )
                for b, c in new_links.items()
            ],
            batch_size=2000,
        )
        return {oid: c if isinstance(c, int) else c.pk for oid, c in result.items()}

    def write(self, orders: dict[str, list[Event]]) -> tuple[int, int]:
        from guanxi.core.models import BusinessEvent

        store = self.store
        firsts = {}
        for oid, evs in orders.items():
            first = next((ev for ev in evs if ev.has_buyer), None)
            if first is None:
                raise ValidationFailed(
                    {
                        "buyer": [
                            _("Order %(order)s needs the buyer's id, phone or e-mail.")
                            % {"order": oid}
                        ]
                    }
                )
            firsts[oid] = first
        customers = self._buyers(firsts)
        built = []  # (order, lines, [(ev, payload)])
        duplicates = 0
        for oid, evs in orders.items():
            first = evs[0]
            order = Order(
                store=store,
                external_id=oid,
                customer_id=customers[oid],
                buyer_external_id=firsts[oid].buyer_id,
                status="placed",
                currency=store.currency,
                placed_at=first.occurred_at,
                created_at=self.now,
                updated_at=self.now,
            )
            lines: list[OrderItem] = []
            seen = set()
            applied = []
            outcome = self.outcomes[oid] = []
            for i, ev in enumerate(evs):
                if (ev.event, ev.key) in seen:
                    duplicates += 1
                    outcome.append(IngestResult("duplicate", order))
                    continue
                outcome.append(IngestResult("applied", order))
                seen.add((ev.event, ev.key))
                previous = "" if i == 0 else order.status
                before = _counted(order, lines)
                self.ingestor._change(order, lines, ev, created=i == 0, persist=False)
                after = _counted(order, lines)
                applied.append((ev, event_payload(order, ev, previous, before, after, lines)))
            built.append((order, lines, applied))
        _bulk_insert(Order, [b[0] for b in built])
        items, order_events, business_events = [], [], []
        for order, lines, applied in built:
            for line in lines:
                line.order_id = order.pk
                items.append(line)
            applied_results = [r for r in self.outcomes[order.external_id] if not r.duplicate]
            for (ev, payload), result in zip(applied, applied_results, strict=True):
                payload["order_id"] = order.pk
                result.order_event = OrderEvent(
                    store=store,
                    external_order_id=order.external_id,
                    event=ev.event,
                    event_key=ev.key,
                    occurred_at=ev.occurred_at,
                    received_at=self.now,
                    source=self.source,
                    payload=ev.raw,
                    order_id=order.pk,
                )
                order_events.append(result.order_event)
                business_events.append(
                    BusinessEvent(
                        name=f"order.{ev.event}",
                        occurred_at=self.now,
                        actor=self.actor,
                        model="commerce.order",
                        object_id=order.pk,
                        customer_id=order.customer_id,
                        payload=payload,
                    )
                )
        _bulk_insert(OrderItem, items)
        _bulk_insert(OrderEvent, order_events)
        _bulk_insert(BusinessEvent, business_events)
        return len(order_events), duplicates


@functools.lru_cache(maxsize=100_000)
def _pinyin(name: str):
    return name_pinyin(name)
