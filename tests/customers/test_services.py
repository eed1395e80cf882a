import pytest

from guanxi.core.errors import PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers import selectors, services
from guanxi.customers.models import Customer


@pytest.mark.django_db
class TestCustomerCreate:
    def test_it_normalises_a_chinese_mobile_to_e164(self, alice):
        c = services.customer_create(actor=alice, data={"name": "张伟", "phone": "138 1234 5678"})
        assert c.phone == "+8613812345678"
        assert (c.name_pinyin, c.name_initials) == ("zhangwei", "zw")
        assert c.owner == alice and c.team == alice.team

    def test_it_rejects_phone_without_digits_and_writes_nothing(self, alice):
        with pytest.raises(ValidationFailed) as err:
            services.customer_create(actor=alice, data={"name": "李娜", "phone": "abc"})
        assert "phone" in err.value.field_errors
        assert Customer.objects.count() == 0
        assert AuditEntry.objects.count() == 0
        assert BusinessEvent.objects.count() == 0

    def test_it_records_audit_and_event_in_the_same_transaction(self, alice):
        c = services.customer_create(actor=alice, data={"name": "王芳", "email": "WF@Example.COM"})
        entry = AuditEntry.objects.get(model="customers.customer", object_id=c.pk)
        assert entry.action == "create" and entry.actor == alice
        assert entry.changes["email"] == [None, "wf@example.com"]
        assert BusinessEvent.objects.filter(name="customer.created", customer_id=c.pk).count() == 1

    def test_analyst_cannot_create(self, users_by_role):
        with pytest.raises(PermissionDenied):
            services.customer_create(actor=users_by_role["analyst"], data={"name": "x"})
        assert Customer.objects.count() == 0


@pytest.mark.django_db
class TestSearch:
    @pytest.fixture
    def zhangwei(self, alice):
        services.customer_create(actor=alice, data={"name": "李娜"})
        return services.customer_create(actor=alice, data={"name": "张伟", "phone": "13812345678"})

    @pytest.mark.parametrize(
        "q", ["zhangwei", "zw", "张", "张伟", "zhang", "13812345678", "138123"]
    )
    def test_it_finds_zhangwei(self, alice, zhangwei, q):
        rows, _ = selectors.customer_list(user=alice, params={"q": q})
        assert [c.pk for c in rows] == [zhangwei.pk]

    def test_other_team_cannot_find_it(self, charlie, zhangwei):
        rows, _ = selectors.customer_list(user=charlie, params={"q": "zw"})
        assert rows == []


@pytest.mark.django_db
def test_a_concurrent_duplicate_external_id_is_a_field_error_not_a_crash(alice, monkeypatch):
    services.customer_create(actor=alice, data={"name": "甲", "external_id": "tb-1"})
    # Simulate the race: the other writer committed after our up-front check ran.
    monkeypatch.setattr(services, "_check_external_id_free", lambda *a: {})
    with pytest.raises(ValidationFailed) as err:
        services.customer_create(actor=alice, data={"name": "乙", "external_id": "tb-1"})
    assert "external_id" in err.value.field_errors
    assert Customer.objects.filter(external_id="tb-1").count() == 1
    assert AuditEntry.objects.filter(model="customers.customer").count() == 1
