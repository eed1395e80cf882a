"""Stores, products and orders: the shop's history as it arrives from webhooks, the API
and imports. Amounts are Decimal in the store's currency."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2, "default": 0}


class Store(models.Model):
    """A shop or sales channel; each has its own webhook secret and churn thresholds."""

    class Channel(models.TextChoices):
        TMALL = "tmall", _("Tmall")
        TAOBAO = "taobao", _("Taobao")
        JD = "jd", _("JD.com")
        PINDUODUO = "pinduoduo", _("Pinduoduo")
        DOUYIN = "douyin", _("Douyin")
        WEB = "web", _("Own web shop")
        OFFLINE = "offline", _("Offline store")
        OTHER = "other", _("Other")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    webhook_secret = models.CharField(max_length=64, default="", blank=True)
    # Churn: a customer whose last order in this store is older than these many days
    # becomes dormant, then lost; or whose P(alive) falls below the threshold.
    dormant_after_days = models.PositiveIntegerField(_("dormant after (days)"), default=180)
    lost_after_days = models.PositiveIntegerField(_("lost after (days)"), default=365)
    p_alive_threshold = models.FloatField(_("P(alive) threshold"), default=0.2)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @staticmethod
    def new_secret() -> str:
        return secrets.token_hex(32)


class Category(models.Model):
    """Product category tree (服装 › 女装 › 连衣裙)."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="uniq_category_name")
        ]

    def __str__(self):
        return self.name


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, null=True, blank=True
    )
    price = models.DecimalField(_("price"), **MONEY)
    cost = models.DecimalField(_("cost"), **MONEY)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]

    def __str__(self):
        return f"{self.sku} {self.name}"


class Order(models.Model):
    """An order as it stands now; how it got here is in OrderEvent."""

    class Status(models.TextChoices):
        PLACED = "placed", _("Placed (unpaid)")
        PAID = "paid", _("Paid")
        SHIPPED = "shipped", _("Shipped")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")

    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT)
    external_id = models.CharField(_("order number"), max_length=64)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="orders",
    )
    buyer_external_id = models.CharField(_("buyer id"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    goods_amount = models.DecimalField(_("goods amount"), **MONEY)
    discount_amount = models.DecimalField(_("discount"), **MONEY)
    shipping_amount = models.DecimalField(_("shipping"), **MONEY)
    paid_amount = models.DecimalField(_("paid amount"), **MONEY)
    refunded_amount = models.DecimalField(_("refunded amount"), **MONEY)
    cost_amount = models.DecimalField(_("cost of goods"), **MONEY)
    item_count = models.PositiveIntegerField(_("items"), default=0)
    placed_at = models.DateTimeField(_("placed at"), db_index=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="uniq_store_order")
        ]
        indexes = [
            models.Index(fields=["customer", "placed_at"], name="order_customer_idx"),
            # A customer's orders paid in a period (the KPIs of a team or a sales rep).
            models.Index(fields=["customer", "paid_at"], name="order_customer_paid_idx"),
            models.Index(fields=["store", "placed_at"], name="order_store_idx"),
            models.Index(fields=["paid_at"], name="order_paid_idx"),
        ]

    def __str__(self):
        return self.external_id

    @property
    def net_amount(self):
        return self.paid_amount - self.refunded_amount


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    amount = models.DecimalField(_("amount"), **MONEY)
    unit_cost = models.DecimalField(_("unit cost"), **MONEY)
    refunded_quantity = models.PositiveIntegerField(_("refunded quantity"), default=0)

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")


class OrderEvent(models.Model):
    """One received order event; (store, order, event) is unique, which makes webhook and
    API deliveries idempotent however often they arrive."""

    class Kind(models.TextChoices):
        PLACED = "placed", _("placed")
        PAID = "paid", _("paid")
        SHIPPED = "shipped", _("shipped")
        RECEIVED = "received", _("received")
        CANCELLED = "cancelled", _("cancelled")
        REFUNDED = "refunded", _("refunded")

    store = models.ForeignKey(Store, on_delete=models.PROTECT)
    external_order_id = models.CharField(max_length=64)
    event = models.CharField(max_length=12, choices=Kind.choices)
    # A refund may come several times for one order (partial refunds): its own id.
    event_key = models.CharField(max_length=64, default="", blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Source(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook")
        API = "api", _("API")
        IMPORT = "import", _("Import")

    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEBHOOK)
    payload = models.JSONField(default=dict)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, null=True, related_name="events")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_order_id", "event", "event_key"],
                name="uniq_order_event",
            )
        ]
        indexes = [models.Index(fields=["received_at"], name="orderevent_received_idx")]


class WebhookRejection(models.Model):
    """A refused webhook delivery (bad signature, bad payload), kept for the operator."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    reason = models.CharField(max_length=300)
    body_excerpt = models.TextField(blank=True)


class StoreBuyer(models.Model):
    """Which customer a store's buyer id belongs to (a Tmall nick, a JD pin, a web shop
    account). Written by order ingestion whichever way the customer was found, so every
    later event of that buyer matches at once; one customer may be a buyer in many stores.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="buyers")
    buyer_external_id = models.CharField(_("buyer id"), max_length=100)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="store_buyers"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("store buyer")
        verbose_name_plural = _("store buyers")
        constraints = [
            models.UniqueConstraint(fields=["store", "buyer_external_id"], name="uniq_store_buyer")
        ]

    def __str__(self):
        return f"{self.store_id}:{self.buyer_external_id}"
