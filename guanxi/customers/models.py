from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import OwnedModel, TimeStampedModel


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(_("colour"), max_length=7, default="#3b82f6")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self):
        return self.name


class CustomField(models.Model):
    """An admin-defined field on customers; values live in ``Customer.custom``."""

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Single choice")
        MULTI = "multi", _("Multiple choice")
        BOOL = "bool", _("Yes / no")

    key = models.SlugField(_("key"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["position", "id"]

    def __str__(self):
        return self.label


# Columns searched by prefix (and compared with "="), and the name of their index.
PREFIX_INDEXES = {
    "name_pinyin": "cust_pinyin_prefix",
    "name_initials": "cust_initials_prefix",
    "phone": "cust_phone_prefix",
    "email": "cust_email_prefix",
}


class Customer(OwnedModel):
    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        COMPANY = "company", _("Company")

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        MALE = "male", _("Male")
        FEMALE = "female", _("Female")

    class Stage(models.TextChoices):
        LEAD = "lead", _("Lead")
        PROSPECT = "prospect", _("Prospect")
        CUSTOMER = "customer", _("Customer")
        VIP = "vip", _("VIP")
        DORMANT = "dormant", _("Dormant")
        LOST = "lost", _("Lost")

    class Grade(models.TextChoices):
        A = "A", "A"
        B = "B", "B"
        C = "C", "C"
        D = "D", "D"

    class Source(models.TextChoices):
        TAOBAO = "taobao", _("Taobao")
        TMALL = "tmall", _("Tmall")
        JD = "jd", _("JD.com")
        PINDUODUO = "pinduoduo", _("Pinduoduo")
        DOUYIN = "douyin", _("Douyin")
        WECHAT = "wechat", _("WeChat")
        WEBSITE = "website", _("Website")
        OFFLINE = "offline", _("Offline store")
        REFERRAL = "referral", _("Referral")
        EXHIBITION = "exhibition", _("Trade show")
        OTHER = "other", _("Other")

    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200)
    # Search keys derived from the name by the service: 张伟 → "zhangwei" / "zw".
    name_pinyin = models.CharField(max_length=200, blank=True, editable=False)
    name_initials = models.CharField(max_length=50, blank=True, editable=False)
    phone = models.CharField(_("phone"), max_length=32, blank=True)  # cust_phone_prefix
    phones_extra = models.JSONField(_("other phones"), default=list, blank=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True)  # cust_email_prefix
    emails_extra = models.JSONField(_("other e-mails"), default=list, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    stage = models.CharField(
        _("lifecycle stage"), max_length=10, choices=Stage.choices, default=Stage.LEAD
    )
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    notes = models.TextField(_("notes"), blank=True)
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # never listed by; an index would only slow writes
    )

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="uniq_customer_external_id")
        ]
        # Every index is paid for by each insert (an import writes ~17 per customer):
        # each one here serves a list filter, a sort, a search or a lookup. The search
        # columns have one index each, with text_pattern_ops on PostgreSQL so that it
        # serves both "=" and LIKE 'x%' (on SQLite, where opclasses do not exist, a plain
        # index, which serves "=" and the range a prefix search becomes). PostgreSQL also
        # has cust_name_prefix (migration 0002: the name needs both orders there) and
        # the GIN index cust_custom_gin for custom-field filters (migration 0006).
        indexes = [
            models.Index(fields=["name", "id"], name="cust_name_idx"),
            *[
                models.Index(fields=[column], name=name, opclasses=["text_pattern_ops"])
                for column, name in PREFIX_INDEXES.items()
            ],
            models.Index(fields=["stage", "created_at"], name="cust_stage_idx"),
            models.Index(fields=["grade", "created_at"], name="cust_grade_idx"),
            models.Index(fields=["owner", "created_at"], name="cust_owner_idx"),
            models.Index(fields=["owner", "name", "id"], name="cust_owner_name_idx"),
            models.Index(fields=["team", "created_at"], name="cust_team_idx"),
            models.Index(fields=["province", "city"], name="cust_region_idx"),
            models.Index(fields=["updated_at", "id"], name="cust_updated_idx"),
            models.Index(fields=["created_at", "id"], name="cust_created_idx"),
        ]

    def __str__(self):
        return self.name

    @property
    def region(self) -> str:
        return " ".join(p for p in [self.province, self.city, self.district] if p)


class Contact(TimeStampedModel):
    """A person at a company customer."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("company"), on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True, db_index=True)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_primary", "name", "id"]

    def __str__(self):
        return self.name


class Consent(models.Model):
    """Marketing consent per channel, with when and where it was given or withdrawn."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        WECHAT = "wechat", _("WeChat")
        PHONE = "phone", _("Phone call")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    granted = models.BooleanField(_("consent given"))
    at = models.DateTimeField(_("time"), default=timezone.now)
    source = models.CharField(_("source"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("marketing consent")
        verbose_name_plural = _("marketing consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="uniq_consent_channel")
        ]


class ImportJob(models.Model):
    """A customer import: the uploaded file, its mapping, and progress and report."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        VALIDATING = "validating", _("Checking")
        VALIDATED = "validated", _("Checked")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=20, default="customers")  # later: orders, leads
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    filename = models.CharField(max_length=255)
    file = models.FileField(upload_to="imports/%Y/%m/")
    mapping = models.JSONField(default=dict, blank=True)
    match_by = models.CharField(max_length=20, default="external_id")
    skip_bad_rows = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row", "column", "message"}]
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def progress(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class DuplicateDismissal(models.Model):
    """A pair of customers a user marked as "not duplicates", so it is not proposed again.
    Stored with the smaller id first."""

    first = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="uniq_dismissed_pair")
        ]
