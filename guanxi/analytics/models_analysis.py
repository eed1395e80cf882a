"""Settings and saved definitions of the customer analyses (RFM boundaries, saved
customer groups). Imported by ``AnalyticsConfig.ready`` so they belong to this app."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RfmSettings(models.Model):
    """One row (pk=1): the RFM score boundaries an admin set, and what the last
    recompute used.

    Each ``*_bounds`` is empty (quintiles of the current customers) or four ascending
    numbers: recency in days since the last order (≤ b1 → R 5 … > b4 → R 1), frequency
    in orders and monetary in revenue (≤ b1 → 1 … > b4 → 5)."""

    recency_bounds = models.JSONField(_("recency boundaries (days)"), default=list, blank=True)
    frequency_bounds = models.JSONField(
        _("frequency boundaries (orders)"), default=list, blank=True
    )
    monetary_bounds = models.JSONField(_("monetary boundaries (revenue)"), default=list, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    # Written by the recompute: {"recency": [...days], "frequency": [...], "monetary": [...],
    # "means": {"r": .., "f": .., "m": ..}, "as_of": iso}
    last_run = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    scored_customers = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("RFM settings")
        verbose_name_plural = _("RFM settings")

    @classmethod
    def load(cls) -> "RfmSettings":
        return cls.objects.get_or_create(pk=1)[0]


class SavedGroup(models.Model):
    """A named customer filter (the customer list's filter dict) to analyse as a group."""

    name = models.CharField(_("name"), max_length=100)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="saved_groups",
    )
    shared = models.BooleanField(_("shared with everyone"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name
