"""The sales side: leads and how they are assigned, pipelines of opportunities, activities
and tasks with reminders, monthly targets.

Leads, opportunities, activities and tasks are business records (``OwnedModel``): the
one visibility rule of ``guanxi.core.visibility`` decides who sees them. A task's
``owner`` is its assignee.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import OwnedModel

MONEY = {"max_digits": 14, "decimal_places": 2, "default": 0}


# Pipelines ---------------------------------------------------------------------------------


class Pipeline(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_default = models.BooleanField(_("default pipeline"), default=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class Stage(models.Model):
    """A column of a pipeline. ``probability`` (0–100) weighs the forecast; a won or lost
    stage closes the opportunity."""

    class Kind(models.TextChoices):
        OPEN = "open", pgettext_lazy("opportunity stage kind", "Open")
        WON = "won", pgettext_lazy("opportunity stage kind", "Won")
        LOST = "lost", pgettext_lazy("opportunity stage kind", "Lost")

    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="stages"
    )
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(_("position"), default=0)
    probability = models.PositiveSmallIntegerField(_("win probability (%)"), default=10)
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices, default=Kind.OPEN)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(probability__lte=100), name="stage_probability_pct")
        ]

    def __str__(self):
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.kind != self.Kind.OPEN


class LostReason(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("lost reason")
        verbose_name_plural = _("lost reasons")
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


# Leads -------------------------------------------------------------------------------------


class AssignmentRule(models.Model):
    """Who gets a new lead. Rules are tried by ``position``; the first whose conditions
    (province, source, form — blank matches anything) fit the lead picks an owner from its
    members, round-robin (``last_assigned`` remembers the turn)."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), on_delete=models.CASCADE, null=True, blank=True
    )
    province = models.CharField(_("province"), max_length=50, blank=True)
    source = models.CharField(_("source"), max_length=20, blank=True)
    form = models.ForeignKey(
        "sales.LeadForm",
        verbose_name=_("web form"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    # Empty: every active member of ``team`` with a sales or manager role.
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True, related_name="+"
    )
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class LeadForm(models.Model):
    """A public web-to-lead form at ``/f/<slug>/``, embeddable in an iframe."""

    slug = models.SlugField(_("address"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("title shown"), max_length=200, blank=True)
    intro = models.TextField(_("introduction"), blank=True)
    thank_you = models.CharField(_("thank-you message"), max_length=300, blank=True)
    source = models.CharField(_("source"), max_length=20, blank=True)
    campaign = models.CharField(_("campaign"), max_length=100, blank=True)
    ask_company = models.BooleanField(_("ask for company"), default=True)
    ask_email = models.BooleanField(_("ask for e-mail"), default=True)
    ask_message = models.BooleanField(_("ask for a message"), default=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Lead(OwnedModel):
    class Status(models.TextChoices):
        NEW = "new", pgettext_lazy("lead status", "New")
        CONTACTED = "contacted", pgettext_lazy("lead status", "Contacted")
        QUALIFIED = "qualified", pgettext_lazy("lead status", "Qualified")
        CONVERTED = "converted", pgettext_lazy("lead status", "Converted")
        DISQUALIFIED = "disqualified", pgettext_lazy("lead status", "Disqualified")

    name = models.CharField(_("name"), max_length=200)
    company = models.CharField(_("company"), max_length=200, blank=True)
    job_title = models.CharField(_("job title"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True, db_index=True)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    source = models.CharField(_("source"), max_length=20, blank=True)
    campaign = models.CharField(_("campaign"), max_length=100, blank=True)
    form = models.ForeignKey(
        LeadForm, verbose_name=_("web form"), on_delete=models.SET_NULL, null=True, blank=True
    )
    message = models.TextField(_("message"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.NEW
    )
    disqualify_reason = models.CharField(_("reason for disqualifying"), max_length=200, blank=True)
    # What the lead became (set together when it is converted; the lead is read-only then).
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
    )
    opportunity = models.ForeignKey(
        "sales.Opportunity",
        verbose_name=_("opportunity"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    converted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    # The key of the system the lead came from: imports match on it (idempotent).
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        indexes = [
            models.Index(fields=["owner", "created_at"], name="lead_owner_idx"),
            models.Index(fields=["team", "created_at"], name="lead_team_idx"),
            models.Index(fields=["status", "created_at"], name="lead_status_idx"),
            models.Index(fields=["created_at", "id"], name="lead_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="uniq_lead_external_id")
        ]

    def __str__(self):
        return self.name

    @property
    def is_read_only(self) -> bool:
        return self.status == self.Status.CONVERTED

    @property
    def source_label(self) -> str:
        """The source as people read it (leads take the customers' sources)."""
        from guanxi.customers.models import Customer

        return str(dict(Customer.Source.choices).get(self.source, self.source))


# Opportunities -----------------------------------------------------------------------------


class Opportunity(OwnedModel):
    name = models.CharField(_("name"), max_length=200)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    pipeline = models.ForeignKey(Pipeline, verbose_name=_("pipeline"), on_delete=models.PROTECT)
    stage = models.ForeignKey(Stage, verbose_name=_("stage"), on_delete=models.PROTECT)
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    expected_close = models.DateField(_("expected close date"), null=True, blank=True)
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    lost_reason = models.ForeignKey(
        LostReason, verbose_name=_("lost reason"), on_delete=models.PROTECT, null=True, blank=True
    )
    lost_note = models.CharField(_("why it was lost"), max_length=300, blank=True)
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Copied from the stage on every move, so boards, funnels and forecasts filter and sum
    # without joining stages: "open" / "won" / "lost".
    status = models.CharField(
        _("status"), max_length=4, choices=Stage.Kind.choices, default=Stage.Kind.OPEN
    )
    stage_entered_at = models.DateTimeField(_("in this stage since"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # The furthest open stage it has reached (by stage order when it got there), kept by
    # the services: the funnel counts "reached this stage or a later one" without reading
    # the stage history.
    reached_stage = models.ForeignKey(
        Stage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        indexes = [
            models.Index(fields=["stage", "owner", "created_at"], name="opp_stage_owner_idx"),
            models.Index(fields=["owner", "created_at"], name="opp_owner_idx"),
            models.Index(fields=["team", "created_at"], name="opp_team_idx"),
            models.Index(fields=["status", "closed_at"], name="opp_status_closed_idx"),
            models.Index(fields=["created_at", "id"], name="opp_created_idx"),
            # Board: column totals (covering, with the expected close date filter) and the
            # newest cards of a column, for all, for an owner and for a team. The totals
            # indexes end with stage_entered_at so that, with a date filter, a column's page
            # of card ids is read from the index alone (selectors_pipeline.column_cards).
            models.Index(
                fields=[
                    "pipeline",
                    "status",
                    "stage",
                    "expected_close",
                    "amount",
                    "stage_entered_at",
                ],
                name="opp_board_cover_idx",
            ),
            models.Index(fields=["stage", "stage_entered_at"], name="opp_board_cards_idx"),
            models.Index(fields=["owner", "stage", "stage_entered_at"], name="opp_board_owner_idx"),
            models.Index(fields=["team", "stage", "stage_entered_at"], name="opp_board_team_idx"),
            models.Index(
                fields=[
                    "team",
                    "pipeline",
                    "status",
                    "stage",
                    "expected_close",
                    "amount",
                    "owner",
                    "stage_entered_at",
                ],
                name="opp_board_team_cover_idx",
            ),
            # Funnel: a pipeline's opportunities by (status, furthest stage, stage), then
            # creation (covering). The funnel names every value of the three (IN lists), so
            # each group is one range of creation times, read in group order: no sort.
            models.Index(
                fields=["pipeline", "status", "reached_stage", "stage", "created_at", "amount"],
                name="opp_funnel_groups_idx",
            ),
            # The same for a team (a manager's funnel on SQLite is read as the team's range
            # and one's own outside it; owner last for the visibility condition).
            models.Index(
                fields=[
                    "team",
                    "pipeline",
                    "status",
                    "reached_stage",
                    "stage",
                    "created_at",
                    "amount",
                    "owner",
                ],
                name="opp_funnel_team_idx",
            ),
        ]

    def __str__(self):
        return self.name


class OpportunityLine(models.Model):
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        "commerce.Product",
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    name = models.CharField(_("name"), max_length=200)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=2, default=1)
    discount_percent = models.DecimalField(
        _("discount (%)"), max_digits=5, decimal_places=2, default=0
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("product line")
        verbose_name_plural = _("product lines")
        ordering = ["position", "id"]


class StageChange(models.Model):
    """One move of an opportunity between stages: the stage history and time in stage."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("time"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # How long the opportunity had been in ``from_stage`` (null for the first entry).
    seconds_in_previous = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # One opportunity's history; covering for the funnel's stays of the
            # opportunities a manager or a rep sees (probed by id).
            models.Index(
                fields=["opportunity", "at", "from_stage", "seconds_in_previous"],
                name="stagechange_opp_cover_idx",
            ),
            # Funnel: average days in stage of the stays that ended in a period, per stage
            # left (covering; in stage order, so grouping needs no sort).
            models.Index(
                fields=["from_stage", "at", "seconds_in_previous"], name="stagechange_from_at_idx"
            ),
        ]


# Follow-up: activities and tasks ------------------------------------------------------------


class Activity(OwnedModel):
    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        VISIT = "visit", _("Visit")
        MEETING = "meeting", _("Meeting")
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        WECHAT = "wechat", _("WeChat")
        NOTE = "note", _("Note")

    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("details"), blank=True)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=200, blank=True)
    next_follow_up = models.DateField(_("next follow-up"), null=True, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )
    opportunity = models.ForeignKey(
        Opportunity,
        verbose_name=_("opportunity"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="act_customer_idx"),
            models.Index(fields=["lead", "occurred_at"], name="act_lead_idx"),
            models.Index(fields=["opportunity", "occurred_at"], name="act_opp_idx"),
            models.Index(fields=["owner", "occurred_at"], name="act_owner_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False)
                | Q(lead__isnull=False)
                | Q(opportunity__isnull=False),
                name="activity_has_subject",
            )
        ]

    def __str__(self):
        return self.subject


class Task(OwnedModel):
    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("task status", "Open")
        DONE = "done", pgettext_lazy("task status", "Done")
        CANCELLED = "cancelled", pgettext_lazy("task status", "Cancelled")

    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_at = models.DateTimeField(_("due"))
    priority = models.CharField(
        _("priority"), max_length=6, choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="open")
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tasks",
    )
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tasks",
    )
    opportunity = models.ForeignKey(
        Opportunity,
        verbose_name=_("opportunity"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tasks",
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    # The activity whose "next follow-up" date made this task (moved with it on an edit).
    activity = models.ForeignKey(
        Activity,
        verbose_name=_("from activity"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_up_tasks",
    )
    # Set by the reminder task when it has notified the assignee (once per due time).
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [
            models.Index(fields=["owner", "status", "due_at"], name="task_owner_due_idx"),
            models.Index(fields=["status", "reminded_at", "due_at"], name="task_remind_idx"),
            models.Index(fields=["team", "created_at"], name="task_team_idx"),
        ]

    def __str__(self):
        return self.title


class FollowUpPolicy(models.Model):
    """Customers of ``grade`` with no activity for ``days`` need a follow-up."""

    grade = models.CharField(_("grade"), max_length=1, unique=True, blank=True)
    days = models.PositiveIntegerField(_("days without activity"))

    class Meta:
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")
        ordering = ["grade"]


class CustomerFollowUp(models.Model):
    """The last activity per customer, kept by the activity service so the "needs
    follow-up" list is one indexed range, not a scan of every activity."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, primary_key=True, related_name="follow_up"
    )
    last_activity_at = models.DateTimeField(db_index=True)
    # Copies of the customer's owner, team and grade, so that the list of one grade for
    # one owner / team is one index range. Written with every activity and re-synced by
    # the worker from customers changed since (``sync_follow_up_copies``); the list
    # re-checks the customer itself, so a stale copy can only delay a row, never leak it.
    customer_owner_id = models.BigIntegerField(null=True, blank=True, editable=False)
    customer_team_id = models.BigIntegerField(null=True, blank=True, editable=False)
    customer_grade = models.CharField(max_length=1, blank=True, default="", editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["customer_grade", "last_activity_at"], name="cfu_grade_last_idx"),
            models.Index(
                fields=["customer_owner_id", "customer_grade", "last_activity_at"],
                name="cfu_owner_grade_last_idx",
            ),
            models.Index(
                fields=["customer_team_id", "customer_grade", "last_activity_at"],
                name="cfu_team_grade_last_idx",
            ),
        ]


class CalendarFeed(models.Model):
    """A user's private iCalendar feed of tasks. Only a digest of the token is stored;
    regenerating it revokes the old address."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    @staticmethod
    def new_token() -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        return token, hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class DigestSent(models.Model):
    """One daily digest e-mail per user per local day: the unique row is the claim, so
    two workers never send the same day's digest twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="uniq_digest_user_day")]


# Targets -----------------------------------------------------------------------------------


class SalesTarget(models.Model):
    """A month's target for one user or one team: won amount and number of won deals."""

    month = models.DateField(_("month"))  # the first day of the month
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("team"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    amount = models.DecimalField(_("target amount"), **MONEY)
    won_deals = models.PositiveIntegerField(_("target won deals"), default=0)

    class Meta:
        verbose_name = _("sales target")
        verbose_name_plural = _("sales targets")
        ordering = ["-month", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="target_user_xor_team",
            ),
            models.UniqueConstraint(fields=["month", "user"], name="uniq_target_month_user"),
            models.UniqueConstraint(fields=["month", "team"], name="uniq_target_month_team"),
        ]
