import datetime

import pytest
from django.utils import timezone

from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers import dedup, services
from guanxi.customers.models import Consent, Contact, Customer, DuplicateDismissal


def make(actor, **data):
    return services.customer_create(actor=actor, data=data)


def pair_ids(pairs):
    return [(p.first.pk, p.second.pk, p.reasons) for p in pairs]


@pytest.mark.django_db
class TestDetection:
    def test_it_pairs_customers_with_the_same_phone(self, alice):
        a = make(alice, name="张伟", phone="13812345678")
        b = make(alice, name="Zhang Wei Jr", phone="138 1234 5678")
        make(alice, name="李娜", phone="13912345678")
        assert pair_ids(dedup.duplicate_pairs(user=alice)) == [(a.pk, b.pk, ["phone"])]

    def test_it_pairs_a_phone_with_another_records_other_phone(self, alice):
        a = make(alice, name="王芳", phone="13812345678")
        b = make(alice, name="Fang", phone="13912345678", phones_extra=["13812345678"])
        assert pair_ids(dedup.duplicate_pairs(user=alice)) == [(a.pk, b.pk, ["phone"])]

    def test_it_pairs_customers_with_the_same_email_or_other_email(self, alice):
        a = make(alice, name="Amy", email="amy@example.com")
        b = make(alice, name="A. Li", email="AMY@example.com")
        c = make(alice, name="Li", email="li@example.com", emails_extra=["amy@example.com"])
        pairs = pair_ids(dedup.duplicate_pairs(user=alice))
        assert pairs == [(a.pk, b.pk, ["email"]), (a.pk, c.pk, ["email"]), (b.pk, c.pk, ["email"])]

    def test_it_pairs_names_with_the_same_pinyin(self, alice):
        a = make(alice, name="张伟")
        b = make(alice, name="章伟")
        c = make(alice, name="张伟")
        pairs = pair_ids(dedup.duplicate_pairs(user=alice))
        assert pairs == [(a.pk, c.pk, ["name"]), (a.pk, b.pk, ["pinyin"]), (b.pk, c.pk, ["pinyin"])]

    def test_phone_and_name_together_score_higher_than_either(self, alice):
        a = make(alice, name="刘洋", phone="13812345678")
        b = make(alice, name="刘洋", phone="13812345678")
        c = make(alice, name="陈静", email="cj@example.com")
        d = make(alice, name="Chen", email="cj@example.com")
        pairs = dedup.duplicate_pairs(user=alice)
        assert [(p.first.pk, p.second.pk, p.reasons, p.score) for p in pairs] == [
            (a.pk, b.pk, ["phone", "name"], 90),
            (c.pk, d.pk, ["email"], 50),
        ]

    def test_a_very_common_name_alone_is_not_a_duplicate_signal(self, alice):
        for _ in range(dedup.MAX_NAME_GROUP + 1):
            make(alice, name="张伟")
        assert dedup.duplicate_pairs(user=alice) == []

    def test_a_dismissed_pair_is_not_proposed_again(self, alice):
        a = make(alice, name="张伟", phone="13812345678")
        b = make(alice, name="张三", phone="13812345678")
        dedup.duplicate_dismiss(actor=alice, first=b, second=a)
        assert DuplicateDismissal.objects.filter(first=a, second=b, by=alice).count() == 1
        assert dedup.duplicate_pairs(user=alice) == []
        assert dedup.duplicates_of(a, user=alice) == []

    def test_sales_sees_only_pairs_among_own_customers(self, alice, bob, charlie, admin_user):
        a = make(alice, name="张伟", phone="13812345678")
        b = make(bob, name="张伟", phone="13812345678")
        c = make(charlie, name="张伟", phone="13812345678")
        a2 = make(alice, name="Wei", phone="13812345678")
        assert pair_ids(dedup.duplicate_pairs(user=alice)) == [(a.pk, a2.pk, ["phone"])]
        assert pair_ids(dedup.duplicate_pairs(user=charlie)) == []
        assert len(dedup.duplicate_pairs(user=admin_user)) == 6
        assert {p.second.pk for p in dedup.duplicate_pairs(user=admin_user)} == {b.pk, c.pk, a2.pk}

    def test_duplicates_of_an_unsaved_customer_warns_before_creating(self, alice, charlie):
        a = make(alice, name="张伟", phone="13812345678")
        b = make(alice, name="章伟", email="zw@example.com", phones_extra=["13912345678"])
        make(charlie, name="张伟", phone="13812345678")
        new = Customer(name="张伟", phone="+8613912345678", email="zw@example.com")
        matches = dedup.duplicates_of(new, user=alice)
        assert [(m.customer.pk, m.reasons, m.score) for m in matches] == [
            (b.pk, ["phone", "email", "pinyin"], 100),
            (a.pk, ["name"], 30),
        ]


@pytest.fixture
def pair(alice):
    """Two records of one company, with contacts, consents, tags and history."""
    survivor = make(
        alice,
        name="杭州云帆科技",
        kind="company",
        phone="13812345678",
        tags=["企业采购"],
        custom={},
    )
    other = make(
        alice,
        name="杭州云帆科技有限公司",
        kind="company",
        phone="13912345678",
        email="sales@yunfan.cn",
        city="杭州",
        tags=["企业采购", "高价值"],
        external_id="TB-1001",
    )
    services.contact_create(actor=alice, customer=survivor, data={"name": "李经理"})
    services.contact_create(actor=alice, customer=other, data={"name": "王总"})
    return survivor, other


@pytest.mark.django_db
class TestMerge:
    def test_it_moves_contacts_tags_and_events_and_deletes_the_other(self, manager, pair):
        survivor, other = pair
        dedup.customer_merge(actor=manager, survivor=survivor, others=[other])
        survivor.refresh_from_db()
        assert not Customer.objects.filter(pk=other.pk).exists()
        assert sorted(Contact.objects.filter(customer=survivor).values_list("name", flat=True)) == [
            "李经理",
            "王总",
        ]
        assert sorted(survivor.tags.values_list("name", flat=True)) == ["企业采购", "高价值"]
        assert BusinessEvent.objects.filter(customer_id=other.pk).count() == 0
        assert (
            BusinessEvent.objects.filter(customer_id=survivor.pk, name="contact.created").count()
            == 2
        )
        merged = BusinessEvent.objects.get(name="customer.merged")
        assert merged.customer_id == survivor.pk
        assert merged.payload["survivor"] == survivor.pk and merged.payload["merged"] == [other.pk]

    def test_it_fills_empty_fields_and_keeps_every_phone_and_email(self, manager, pair):
        survivor, other = pair
        dedup.customer_merge(actor=manager, survivor=survivor, others=[other])
        survivor.refresh_from_db()
        assert survivor.name == "杭州云帆科技"
        assert survivor.phone == "+8613812345678"
        assert survivor.phones_extra == ["+8613912345678"]
        assert survivor.email == "sales@yunfan.cn"
        assert survivor.city == "杭州"
        assert survivor.external_id == "TB-1001"

    def test_a_field_choice_takes_the_value_of_the_other_record(self, manager, pair):
        survivor, other = pair
        dedup.customer_merge(
            actor=manager,
            survivor=survivor,
            others=[other],
            field_choices={"name": other.pk, "phone": other.pk},
        )
        survivor.refresh_from_db()
        assert survivor.name == "杭州云帆科技有限公司"
        assert survivor.name_pinyin == "hangzhouyunfankejiyouxiangongsi"
        assert survivor.phone == "+8613912345678"
        assert survivor.phones_extra == ["+8613812345678"]

    def test_it_records_a_merge_entry_and_a_delete_entry_per_other(self, manager, pair):
        survivor, other = pair
        dedup.customer_merge(actor=manager, survivor=survivor, others=[other])
        entry = AuditEntry.objects.get(
            model="customers.customer", object_id=survivor.pk, action="merge"
        )
        assert entry.actor == manager
        assert entry.changes["merged"] == [{"id": other.pk, "name": "杭州云帆科技有限公司"}]
        assert entry.changes["email"] == ["", "sales@yunfan.cn"]
        assert entry.changes["tags"] == [["企业采购"], ["企业采购", "高价值"]]
        gone = AuditEntry.objects.get(
            model="customers.customer", object_id=other.pk, action="delete"
        )
        assert gone.note == f"merged into #{survivor.pk}"
        assert gone.changes["external_id"] == ["TB-1001", None]

    def test_custom_values_are_merged_and_can_be_chosen(self, manager, alice, admin_user):
        services.custom_field_create(
            actor=admin_user, data={"key": "wechat_id", "label": "WeChat", "type": "text"}
        )
        services.custom_field_create(
            actor=admin_user,
            data={"key": "level", "label": "Level", "type": "choice", "choices": "金卡;银卡"},
        )
        a = make(alice, name="A", custom={"level": "银卡"})
        b = make(alice, name="B", custom={"level": "金卡", "wechat_id": "wx_b"})
        dedup.customer_merge(
            actor=manager, survivor=a, others=[b], field_choices={"custom.level": b.pk}
        )
        a.refresh_from_db()
        assert a.custom == {"level": "金卡", "wechat_id": "wx_b"}

    def test_per_channel_the_most_recent_consent_wins(self, manager, alice):
        a = make(alice, name="A")
        b = make(alice, name="B")
        old, new = timezone.now() - datetime.timedelta(days=30), timezone.now()
        Consent.objects.create(customer=a, channel="sms", granted=True, at=old)
        Consent.objects.create(customer=b, channel="sms", granted=False, at=new)
        Consent.objects.create(customer=a, channel="email", granted=True, at=new)
        Consent.objects.create(customer=b, channel="email", granted=False, at=old)
        Consent.objects.create(customer=b, channel="wechat", granted=True, at=old)
        dedup.customer_merge(actor=manager, survivor=a, others=[b])
        assert dict(Consent.objects.filter(customer=a).values_list("channel", "granted")) == {
            "sms": False,
            "email": True,
            "wechat": True,
        }
        assert Consent.objects.count() == 3
        entry = AuditEntry.objects.get(action="merge")
        assert entry.changes["consent.sms"] == [True, False]
        assert entry.changes["consent.wechat"] == [None, True]

    def test_dismissals_of_the_merged_away_records_are_deleted(self, manager, alice):
        a, b, c = make(alice, name="A"), make(alice, name="B"), make(alice, name="C")
        dedup.duplicate_dismiss(actor=alice, first=b, second=c)
        dedup.duplicate_dismiss(actor=alice, first=a, second=b)
        dedup.customer_merge(actor=manager, survivor=a, others=[b])
        assert DuplicateDismissal.objects.count() == 0

    def test_three_records_merge_into_one(self, manager, alice):
        a = make(alice, name="张伟")
        b = make(alice, name="张伟", phone="13812345678", tags=["新客"])
        c = make(alice, name="张伟", phone="13912345678", tags=["新客", "会员"])
        dedup.customer_merge(actor=manager, survivor=a, others=[b, c])
        a.refresh_from_db()
        assert Customer.objects.count() == 1
        assert (a.phone, a.phones_extra) == ("+8613812345678", ["+8613912345678"])
        assert sorted(a.tags.values_list("name", flat=True)) == ["会员", "新客"]

    def test_sales_cannot_merge_and_nothing_changes(self, alice, pair):
        survivor, other = pair
        entries = AuditEntry.objects.count()
        with pytest.raises(PermissionDenied):
            dedup.customer_merge(actor=alice, survivor=survivor, others=[other])
        assert Customer.objects.count() == 2
        assert Contact.objects.filter(customer=other).count() == 1
        assert AuditEntry.objects.count() == entries
        assert not BusinessEvent.objects.filter(name="customer.merged").exists()

    def test_merging_a_record_the_actor_cannot_see_is_refused(self, manager, alice, charlie):
        a = make(alice, name="张伟", phone="13812345678")
        theirs = make(charlie, name="张伟", phone="13812345678")
        entries = AuditEntry.objects.count()
        with pytest.raises(NotFound):
            dedup.customer_merge(actor=manager, survivor=a, others=[theirs])
        assert Customer.objects.filter(pk__in=[a.pk, theirs.pk]).count() == 2
        assert AuditEntry.objects.count() == entries

    def test_a_choice_from_a_record_outside_the_merge_is_refused(self, manager, alice):
        a, b, c = make(alice, name="A"), make(alice, name="B"), make(alice, name="C")
        with pytest.raises(ValidationFailed) as err:
            dedup.customer_merge(
                actor=manager, survivor=a, others=[b], field_choices={"name": c.pk}
            )
        assert list(err.value.field_errors) == ["name"]
        assert Customer.objects.count() == 3

    def test_the_survivor_cannot_also_be_merged_away(self, manager, alice):
        a = make(alice, name="A")
        with pytest.raises(ValidationFailed):
            dedup.customer_merge(actor=manager, survivor=a, others=[a])
        assert Customer.objects.filter(pk=a.pk).exists()


@pytest.mark.django_db
class TestGenericMove:
    def test_every_reverse_relation_of_customer_is_found(self):
        labels = {fk.model._meta.label_lower for fk in dedup._reverse_foreign_keys()}
        assert {"customers.contact", "customers.consent", "customers.customer_tags"} <= labels
        assert "customers.duplicatedismissal" in labels
