"""The demo data set has opportunities in the default pipeline with a stage history."""

import io

import pytest
from django.core.management import call_command

from guanxi.sales.models import Opportunity, StageChange
from guanxi.sales.services_pipeline import default_pipeline


@pytest.mark.django_db
def test_demo_builds_opportunities_with_history():
    call_command("demo", "--customers", "60", stdout=io.StringIO())
    opportunities = Opportunity.objects.all()
    assert opportunities.count() >= 30
    assert set(opportunities.values_list("pipeline_id", flat=True)) == {default_pipeline().pk}
    statuses = set(opportunities.values_list("status", flat=True))
    assert statuses == {"open", "won", "lost"}
    assert not opportunities.filter(status="lost", lost_reason__isnull=True).exists()
    moves = StageChange.objects.filter(from_stage__isnull=False)
    assert moves.exists() and not moves.filter(seconds_in_previous__lt=3600).exists()
    # Every opportunity belongs to its customer's owner (visible to the rep who owns it).
    for opp in opportunities.select_related("customer"):
        assert opp.owner_id == opp.customer.owner_id
