"""Shared helpers and fixtures of the follow-up tests (no tests here): customers, a
lead, an opportunity, a frozen clock and a real SMTP server."""

import datetime

import pytest
from django.utils import timezone

from guanxi.customers.models import Customer
from guanxi.sales.models import Lead, Opportunity, Pipeline, Stage


def make_customer(owner, name="张伟", grade="", created_at=None, **extra) -> Customer:
    customer = Customer.objects.create(
        name=name, owner=owner, team_id=owner.team_id if owner else None, grade=grade, **extra
    )
    if created_at is not None:
        Customer.objects.filter(pk=customer.pk).update(created_at=created_at)
        customer.refresh_from_db()
    return customer


def make_lead(owner, name="李娜", customer=None) -> Lead:
    return Lead.objects.create(name=name, owner=owner, team_id=owner.team_id, customer=customer)


def make_opportunity(owner, customer, name="年度合同") -> Opportunity:
    pipeline = Pipeline.objects.filter(name="FU test").first() or Pipeline.objects.create(
        name="FU test"
    )
    stage = Stage.objects.filter(pipeline=pipeline).first() or Stage.objects.create(
        pipeline=pipeline, name="Qualify", position=1, probability=20
    )
    return Opportunity.objects.create(
        name=name,
        customer=customer,
        pipeline=pipeline,
        stage=stage,
        owner=owner,
        team_id=owner.team_id,
    )


class FixedClock:
    """``django.utils.timezone.now`` frozen at ``now``; ``advance`` moves it."""

    def __init__(self, monkeypatch, start: datetime.datetime):
        self.now = start
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **delta):
        self.now += datetime.timedelta(**delta)

    def set(self, value: datetime.datetime):
        self.now = value


# Monday 2026-03-02 00:30 UTC = 08:30 in Shanghai.
START = datetime.datetime(2026, 3, 2, 0, 30, tzinfo=datetime.UTC)


@pytest.fixture(name="fixed_clock")
def fixed_clock_fixture(monkeypatch):
    return FixedClock(monkeypatch, START)


@pytest.fixture(name="smtp")
def smtp_fixture(smtp_server):
    """The real SMTP server of tests/conftest.py, under the name these tests use."""
    return smtp_server
