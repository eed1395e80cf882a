"""Demo opportunities for ``guanxi demo``: deals in the default pipeline, written through
the services under the demo clock, so they have a believable stage history (time in
stage), won and lost deals, product lines and the audit entries and events of real use."""

import datetime
import random

from guanxi.sales import services_pipeline as svc
from guanxi.sales.models import LostReason, Stage

DEALS = [
    "年度采购合同",
    "门店系统升级",
    "会员营销方案",
    "企业微信集成",
    "仓储管理系统",
    "年度维保续约",
    "新品首批订货",
    "渠道合作框架",
    "培训服务包",
    "定制开发项目",
]
NEXT_STEPS = ["发送报价单", "安排产品演示", "确认预算", "约见采购负责人", "准备合同草案", ""]


def build(users: dict, customers: list, clock: dict, *, count: int = 60, seed: int = 20) -> int:
    """Create about ``count`` opportunities for the demo sales users' customers; returns
    how many were created."""
    from guanxi.commerce.models import Product

    rng = random.Random(seed)
    pipeline = svc.default_pipeline()
    if pipeline is None or not customers:
        return 0
    stages = list(pipeline.stages.order_by("position"))
    open_stages = [s for s in stages if s.kind == Stage.Kind.OPEN]
    won = next((s for s in stages if s.kind == Stage.Kind.WON), None)
    lost = next((s for s in stages if s.kind == Stage.Kind.LOST), None)
    reasons = list(LostReason.objects.filter(active=True))
    products = list(Product.objects.filter(active=True).order_by("sku")[:20])
    owned = [c for c in customers if c.owner_id]
    by_username = {u.pk: u for u in users.values()}
    previous = clock.get("now")
    end = datetime.datetime.now(datetime.UTC)
    created = 0
    for i in range(min(count, len(owned))):
        customer = owned[rng.randrange(len(owned))]
        owner = by_username.get(customer.owner_id)
        if owner is None:
            continue
        at = end - datetime.timedelta(days=rng.randrange(5, 150), hours=rng.randrange(9))
        clock["now"] = at
        data = {
            "name": f"{customer.name} · {DEALS[i % len(DEALS)]}",
            "customer": customer,
            "expected_close": (at + datetime.timedelta(days=rng.randrange(20, 120))).date(),
            "next_step": rng.choice(NEXT_STEPS),
        }
        if products and rng.random() < 0.6:
            data["lines"] = [
                {
                    "product": p.pk,
                    "quantity": rng.choice([1, 2, 5, 10, 20]),
                    "discount_percent": rng.choice([0, 0, 5, 10]),
                }
                for p in rng.sample(products, k=min(len(products), rng.randint(1, 3)))
            ]
        else:
            data["amount"] = rng.randrange(2, 400) * 1000
        opportunity = svc.opportunity_create(owner, data)
        created += 1
        reach = rng.choices(range(len(open_stages)), weights=[30, 28, 24, 18])[0]
        for stage in open_stages[1 : reach + 1]:
            at += datetime.timedelta(days=rng.randrange(1, 15), hours=rng.randrange(8))
            if at >= end:
                break
            clock["now"] = at
            opportunity = svc.opportunity_move(owner, opportunity, stage)
        closing = rng.random()
        at += datetime.timedelta(days=rng.randrange(1, 20))
        if at < end and closing < 0.45:
            clock["now"] = at
            if won is not None and closing < 0.25 + 0.05 * reach:
                svc.opportunity_move(owner, opportunity, won, note="")
            elif lost is not None and reasons:
                svc.opportunity_move(
                    owner, opportunity, lost, lost_reason=rng.choice(reasons), note=""
                )
    clock["now"] = previous
    return created
