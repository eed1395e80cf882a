import io

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from guanxi.accounts.models import Team, User
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.core.normalize import normalize_phone
from guanxi.customers import dedup
from guanxi.customers.models import Consent, Contact, Customer, CustomField, Tag


def run(*args) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(db):
    return run("--customers", "60")


@pytest.mark.django_db
class TestDemo:
    def test_it_builds_the_asked_number_of_customers_deterministically(self, demo):
        assert Customer.objects.count() == 60
        assert Customer.objects.filter(kind="company").count() == 2
        assert Contact.objects.count() == 4
        assert Consent.objects.count() == 64
        assert list(Customer.objects.order_by("id").values_list("name", flat=True)[:5]) == [
            "刘磊",
            "王丽华",
            "韩勇",
            "王浩",
            "梁梓涵",
        ]

    def test_it_creates_the_teams_and_one_login_per_role(self, demo):
        assert sorted(Team.objects.values_list("name", flat=True)) == [
            "华东销售部",
            "华南销售部",
            "客服中心",
        ]
        roles = dict(User.objects.values("role").annotate(n=Count("id")).values_list("role", "n"))
        assert roles == {
            "admin": 1,
            "manager": 1,
            "sales": 2,
            "service": 1,
            "marketing": 1,
            "analyst": 1,
        }
        admin = User.objects.get(username="admin")
        assert admin.check_password("admin-demo-2026")
        assert "| admin     | admin     | admin-demo-2026" in demo

    def test_every_customer_has_a_creation_audit_entry_and_event_in_the_past(self, demo):
        ids = set(Customer.objects.values_list("id", flat=True))
        created = AuditEntry.objects.filter(model="customers.customer", action="create")
        assert set(created.values_list("object_id", flat=True)) == ids
        assert AuditEntry.objects.filter(model="customers.customer", action="update").count() > 60
        assert BusinessEvent.objects.filter(name="customer.created").count() == 60
        assert not Customer.objects.filter(created_at__gt=timezone.now()).exists()
        assert not AuditEntry.objects.filter(at__gt=timezone.now()).exists()

    def test_customers_have_valid_phones_and_settings(self, demo):
        for phone in Customer.objects.exclude(phone="").values_list("phone", flat=True):
            assert normalize_phone(phone) == phone
        assert Customer.objects.values("owner").distinct().count() == 3
        assert Tag.objects.count() == 6
        assert sorted(CustomField.objects.values_list("key", flat=True)) == [
            "member_level",
            "preferred_category",
            "vip_since",
            "wechat_id",
        ]

    def test_it_leaves_some_duplicates_for_the_duplicates_page(self, demo):
        admin = User.objects.get(username="admin")
        assert any("phone" in p.reasons for p in dedup.duplicate_pairs(user=admin))

    def test_running_twice_adds_nothing_and_prints_the_logins(self, demo):
        counts = (Customer.objects.count(), AuditEntry.objects.count(), User.objects.count())
        out = run("--customers", "60")
        assert (
            Customer.objects.count(),
            AuditEntry.objects.count(),
            User.objects.count(),
        ) == counts
        assert "sales2-demo-2026" in out

    def test_print_logins_builds_nothing(self, db):
        out = run("--print-logins")
        assert "No demo users yet" in out
        assert User.objects.count() == 0 and Customer.objects.count() == 0
