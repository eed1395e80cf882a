import datetime
import random
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from guanxi.analytics import churn, groups, rfm
from guanxi.analytics.models import CustomerStats
from guanxi.customers.models import Customer
from tests.analytics import analysis_data as data

N = 200_000


@pytest.mark.django_db
def test_bench(admin_user, alice):
    rng = random.Random(1)
    now = timezone.now()
    Customer.objects.bulk_create(
        [Customer(name=f"c{i}", stage="customer", province=rng.choice(["浙江", "上海", "北京", ""]),
                  gender=rng.choice(["male", "female", ""]), source=rng.choice(["tmall", "jd", ""]),
                  owner=alice if i % 10 == 0 else None)
         for i in range(N)], batch_size=5000)
    ids = list(Customer.objects.values_list("pk", flat=True))
    CustomerStats.objects.bulk_create(
        [CustomerStats(customer_id=pk, orders=rng.randint(1, 20), items=rng.randint(1, 40),
                       revenue=Decimal(rng.randint(1, 100000)) / 10,
                       first_order_at=now - datetime.timedelta(days=rng.randint(300, 900)),
                       last_order_at=now - datetime.timedelta(days=rng.randint(0, 299), seconds=rng.randint(0, 86000)))
         for pk in ids], batch_size=5000)
    t = time.monotonic(); rfm.rfm_recompute(); print("\nrfm_recompute", N, round(time.monotonic() - t, 2))
    t = time.monotonic(); rfm.rfm_overview(user=admin_user); print("overview admin", round(time.monotonic() - t, 2))
    t = time.monotonic(); a = groups.group_analysis(user=admin_user, filters={"province": "浙江"}, dimensions=["region", "gender", "age", "source", "price_band", "rfm_segment"]); print("group 6 dims", round(time.monotonic() - t, 2))
    shop = data.store("s", dormant_after_days=100, lost_after_days=200)
    # churn: 10k changes (one order each for 10k customers so the governing store exists)
    from guanxi.commerce.models import Order
    Order.objects.bulk_create([Order(store=shop, external_id=f"o{pk}", customer_id=pk, status="paid", placed_at=now - datetime.timedelta(days=250), paid_at=now - datetime.timedelta(days=250)) for pk in ids[:10000]], batch_size=5000)
    CustomerStats.objects.exclude(customer_id__in=ids[:10000]).update(last_order_at=now)
    CustomerStats.objects.filter(customer_id__in=ids[:10000]).update(last_order_at=now - datetime.timedelta(days=250))
    t = time.monotonic(); r = churn.apply_churn_rules(); print("churn", r, round(time.monotonic() - t, 2))
