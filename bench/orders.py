"""Synthetic order history for the bench customers (deterministic per seed).

5,000,000 orders by default for the customers ``bench.generate`` wrote, shaped like a
Chinese consumer brand's shop over three years:

- 4 stores (Tmall flagship, JD, own web shop, an offline store); each buyer has a main
  store (80% of their orders) and a buyer id there (``StoreBuyer``);
- 288 products in a two-level category tree (6 roots × 3 subcategories × 16), prices
  log-normal per subcategory, cost 35–70% of the price; each customer has a favourite
  root category (65% of their lines), popular products Zipf-distributed;
- who buys: ~95% of customers at stage customer / VIP / dormant / lost, half of the
  prospects, a quarter of the leads. How often: 1 + Poisson(λ × years in the shop) with
  λ ~ Gamma(0.3, ·) (VIPs × 3): many one-time buyers, a few heavy buyers, scaled to the
  requested total exactly. When: from the customer's creation, until a lifetime drawn
  from an exponential (dormant / lost customers stopped 6–12 / 12–24 months ago), with
  weekly and yearly seasonality — 双11 (×9 on 11-11, ×1.8 in the ten days before), 618,
  双12, weekends, a Spring Festival dip — and an evening-heavy hour-of-day profile;
- ~1.7 lines per order (1 + Poisson(0.7), at most 6), mostly quantity 1; discounts on a
  third of the orders (most orders on festival days), shipping 0 from ¥99;
- ~8% never paid (拍下未付款: closed after a day unless placed in the last 3 days);
  paid orders get paid / shipped / received times (offline: received at once); ~5%
  of the paid orders refunded, 55% of those in full (status ``refunded``), 45% one
  line (partial); times past the end of the data leave the later steps out.

Rows go in with ``executemany`` (SQLite) or ``COPY`` (PostgreSQL); the secondary
indexes of the order, order item and store buyer tables are dropped during the load and
rebuilt after it. No ``OrderEvent`` / ``BusinessEvent`` rows are written for the history
(see docs/benchmarks.md): the statistics come from ``rebuild_stats``, as after an import.

Used by ``bench.run_commerce``.
"""

import datetime
import json
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_ORDERS = 5_000_000
BATCH = 100_000
UTC = datetime.UTC
TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
# Fixed, so a seed always gives the same data: the history ends at local midnight.
END_LOCAL = datetime.datetime(2026, 11, 22, tzinfo=TZ)
END = END_LOCAL.astimezone(UTC)
START = END - datetime.timedelta(days=3 * 365)
DAY = 86_400

STORES = [
    # code, name, channel, share of buyers' main store, buyer id prefix
    ("tmall-flagship", "天猫旗舰店", "tmall", 0.42, "tm_"),
    ("jd-self", "京东自营店", "jd", 0.26, "jd_"),
    ("web", "官网商城", "web", 0.18, "web"),
    ("offline-sh", "上海南京路门店", "offline", 0.14, "mem"),
]
# root: (subcategory, median price ¥, product name stems)
CATEGORIES = {
    "服装": [("女装", 199, "连衣裙 针织衫 半身裙 衬衫"),
             ("男装", 229, "夹克 T恤 卫衣 休闲裤"),
             ("童装", 99, "童套装 童外套 童裤 童T恤")],
    "美妆": [("护肤", 259, "精华 面霜 爽肤水 面膜"),
             ("彩妆", 149, "口红 粉底液 眼影 眉笔"),
             ("香水", 499, "淡香水 香氛 古龙水 身体乳")],
    "数码": [("手机配件", 69, "数据线 充电器 手机壳 移动电源"),
             ("耳机音响", 399, "蓝牙耳机 音箱 头戴耳机 降噪耳机"),
             ("智能穿戴", 699, "手环 手表 体脂秤 智能眼镜")],
    "家居": [("厨具", 159, "炒锅 刀具 保温杯 餐具"),
             ("床品", 299, "四件套 枕头 蚕丝被 毛毯"),
             ("收纳", 49, "收纳盒 衣架 置物架 真空袋")],
    "食品": [("零食", 39, "坚果礼盒 牛肉干 饼干 果干"),
             ("茶饮", 129, "龙井 普洱 花茶 咖啡豆"),
             ("生鲜", 89, "车厘子 牛排 大闸蟹 海参")],
    "母婴": [("奶粉", 268, "婴儿奶粉 幼儿奶粉 羊奶粉 米粉"),
             ("纸尿裤", 139, "纸尿裤 拉拉裤 湿巾 隔尿垫"),
             ("玩具", 119, "积木 拼图 毛绒玩具 遥控车")],
}  # fmt: skip
PRODUCTS_PER_SUB = 16
# Favourite root category by gender (female, male, unknown).
ROOT_WEIGHTS = {
    "female": [0.26, 0.28, 0.08, 0.12, 0.12, 0.14],
    "male": [0.24, 0.06, 0.32, 0.13, 0.17, 0.08],
    "": [0.22, 0.14, 0.22, 0.16, 0.16, 0.10],
}
# Local hour of day of an order.
HOURS = np.array(
    [3.0, 1.8, 1.0, 0.6, 0.4, 0.4, 0.8, 1.6, 2.6, 3.4, 4.2, 4.6,
     4.8, 4.4, 4.0, 4.0, 4.2, 4.4, 4.6, 5.4, 6.6, 7.4, 7.0, 5.0]
)  # fmt: skip
BUY_PROBABILITY = {
    "customer": 0.96,
    "vip": 1.0,
    "dormant": 0.95,
    "lost": 0.93,
    "prospect": 0.5,
    "lead": 0.25,
}
UNPAID_RATE = 0.08
REFUND_RATE = 0.05
FULL_REFUND_SHARE = 0.55
ORDER_COLUMNS = [
    "id", "store_id", "external_id", "customer_id", "buyer_external_id", "status", "currency",
    "goods_amount", "discount_amount", "shipping_amount", "paid_amount", "refunded_amount",
    "cost_amount", "item_count", "placed_at", "paid_at", "shipped_at", "received_at",
    "cancelled_at", "refunded_at", "created_at", "updated_at",
]  # fmt: skip
MONEY_COLUMNS = {
    "goods_amount", "discount_amount", "shipping_amount", "paid_amount", "refunded_amount",
    "cost_amount", "unit_price", "amount", "unit_cost",
}  # fmt: skip
TIME_COLUMNS = {
    "placed_at", "paid_at", "shipped_at", "received_at", "cancelled_at", "refunded_at",
    "created_at", "updated_at",
}  # fmt: skip
ITEM_COLUMNS = [
    "id", "order_id", "product_id", "sku", "name", "quantity", "unit_price", "amount",
    "unit_cost", "refunded_quantity",
]  # fmt: skip


# The catalogue -----------------------------------------------------------------------------


@dataclass
class Catalogue:
    store_ids: list[int]
    product_ids: np.ndarray
    skus: list[str]
    names: list[str]
    price_cents: np.ndarray
    cost_cents: np.ndarray
    root_of: np.ndarray  # root index (0..5) of each product


def setup_catalogue(seed: int) -> Catalogue:
    """Stores, the category tree and the products (idempotent: reuses what exists)."""
    from guanxi.commerce.models import Category, Product, Store

    rng = np.random.default_rng(seed + 11)
    store_ids = []
    for code, name, channel, _share, _prefix in STORES:
        store, _ = Store.objects.get_or_create(
            code=code,
            defaults={"name": name, "channel": channel, "webhook_secret": Store.new_secret()},
        )
        store_ids.append(store.pk)
    product_ids, skus, names, prices, costs, roots = [], [], [], [], [], []
    for r, (root_name, subs) in enumerate(CATEGORIES.items()):
        root, _ = Category.objects.get_or_create(name=root_name, parent=None)
        for s, (sub_name, median, stems) in enumerate(subs):
            sub, _ = Category.objects.get_or_create(name=sub_name, parent=root)
            stems = stems.split()
            for p in range(PRODUCTS_PER_SUB):
                price = max(9.9, float(np.round(median * rng.lognormal(0, 0.45), 0)) - 0.1)
                price_cents = int(round(price * 100))
                cost_cents = int(price_cents * rng.uniform(0.35, 0.7))
                sku = f"SKU-{r + 1}{s + 1}-{p + 1:03d}"
                name = f"{stems[p % len(stems)]} {sub_name}款{p + 1:02d}"
                product, _ = Product.objects.get_or_create(
                    sku=sku,
                    defaults={
                        "name": name,
                        "category": sub,
                        "price": f"{price_cents / 100:.2f}",
                        "cost": f"{cost_cents / 100:.2f}",
                    },
                )
                product_ids.append(product.pk)
                skus.append(product.sku)
                names.append(product.name)
                prices.append(int(round(float(product.price) * 100)))
                costs.append(int(round(float(product.cost) * 100)))
                roots.append(r)
    return Catalogue(
        store_ids=store_ids,
        product_ids=np.array(product_ids),
        skus=skus,
        names=names,
        price_cents=np.array(prices, dtype=np.int64),
        cost_cents=np.array(costs, dtype=np.int64),
        root_of=np.array(roots),
    )


# Calendar ------------------------------------------------------------------------------------


def day_weights(days: int) -> np.ndarray:
    """Relative order volume of each local day from START (day 0) on."""
    first = START.astimezone(TZ).date()
    w = np.ones(days)
    for i in range(days):
        d = first + datetime.timedelta(days=i)
        if d.weekday() >= 5:
            w[i] *= 1.15
        md = (d.month, d.day)
        if md == (11, 11):
            w[i] *= 9.0
        elif d.month == 11 and d.day < 11:
            w[i] *= 1.8
        elif md == (11, 12):
            w[i] *= 1.5
        elif md == (6, 18):
            w[i] *= 5.0
        elif d.month == 6 and d.day < 18:
            w[i] *= 1.4
        elif md == (12, 12):
            w[i] *= 3.0
        elif (d.month == 1 and d.day >= 20) or (d.month == 2 and d.day <= 15):
            w[i] *= 0.6
    return w


def festival_days(days: int) -> np.ndarray:
    first = START.astimezone(TZ).date()
    out = np.zeros(days, dtype=bool)
    for i in range(days):
        d = first + datetime.timedelta(days=i)
        out[i] = (d.month, d.day) in ((11, 11), (6, 18), (12, 12))
    return out


# The plan: who orders when (all orders, in memory) ---------------------------------------------


@dataclass
class Plan:
    customer: np.ndarray  # int64, sorted by placed time
    store: np.ndarray  # index into STORES
    placed: np.ndarray  # int64 unix seconds
    favourite: dict  # customer id → root index (dense array)
    buyers: int
    one_time_buyers: int


def _customers(connection) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute(
                "SELECT id, stage, CAST(strftime('%s', created_at) AS INTEGER), gender "
                "FROM customers_customer ORDER BY id"
            )
        else:
            cur.execute(
                "SELECT id, stage, CAST(FLOOR(EXTRACT(EPOCH FROM created_at)) AS BIGINT), gender "
                "FROM customers_customer ORDER BY id"
            )
        rows = cur.fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    stages = [r[1] for r in rows]
    created = np.array([r[2] for r in rows], dtype=np.int64)
    genders = [r[3] for r in rows]
    return ids, stages, created, genders


def plan(connection, n_orders: int, seed: int, log: Callable[[str], None]) -> Plan:
    rng = np.random.default_rng(seed)
    ids, stages, created, genders = _customers(connection)
    n = len(ids)
    start_s, end_s = int(START.timestamp()), int(END.timestamp())
    stage_arr = np.array(stages)
    p_buy = np.vectorize(lambda s: BUY_PROBABILITY.get(s, 0.3))(stage_arr)
    is_buyer = rng.random(n) < p_buy
    # Favourite root category of every customer (by gender).
    fav = np.zeros(n, dtype=np.int64)
    gender_arr = np.array(genders)
    for g, weights in ROOT_WEIGHTS.items():
        mask = gender_arr == g
        fav[mask] = rng.choice(len(weights), size=int(mask.sum()), p=weights)
    # Activity window: from creation to the end of the customer's life in the shop.
    begin = np.clip(created, start_s, end_s - DAY)
    life = rng.exponential(900 * DAY, n).astype(np.int64)
    stop = np.minimum(begin + DAY + life, end_s - 600)
    dormant = stage_arr == "dormant"
    lost = stage_arr == "lost"
    stop[dormant] = np.minimum(stop[dormant], end_s - rng.integers(180, 365, dormant.sum()) * DAY)
    stop[lost] = np.minimum(stop[lost], end_s - rng.integers(365, 730, lost.sum()) * DAY)
    stop = np.maximum(stop, begin + 3600)
    years = (stop - begin) / (365 * DAY)
    # Purchase rate per year: Gamma(0.3) (heavy tail), VIPs three times as often.
    rate = rng.gamma(0.3, 1.0, n) * np.where(stage_arr == "vip", 3.0, 1.0)
    b = np.flatnonzero(is_buyer)
    extra_wanted = n_orders - len(b)
    scale = extra_wanted / float((rate[b] * years[b]).sum())
    # A few heavy buyers, but no reseller ordering every day: at most 150 extra orders
    # expected (the total is kept by the correction below).
    extra = rng.poisson(np.minimum(rate[b] * years[b] * scale, 150))
    # Exactly n_orders: add or remove single repeat orders at random.
    diff = extra_wanted - int(extra.sum())
    if diff > 0:
        np.add.at(extra, rng.choice(len(b), diff, p=extra / extra.sum()), 1)
    while diff < 0:
        pick = rng.choice(np.flatnonzero(extra > 0), min(-diff, int((extra > 0).sum())))
        pick = np.unique(pick)
        extra[pick] -= 1
        diff += len(pick)
    counts = 1 + extra
    cust_idx = np.repeat(b, counts)
    first_flag = np.zeros(len(cust_idx), dtype=bool)
    first_flag[np.concatenate([[0], np.cumsum(counts)[:-1]])] = True
    # Days: the first order the day the customer was created, the others spread over
    # the window by the seasonal day weights (inverse CDF).
    days_total = (end_s - start_s) // DAY + 1
    weights = day_weights(days_total)
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    lo_day = (begin[cust_idx] - start_s) // DAY
    hi_day = (stop[cust_idx] - start_s) // DAY + 1
    u = rng.random(len(cust_idx))
    target = cum[lo_day] + u * (cum[hi_day] - cum[lo_day])
    day = np.clip(np.searchsorted(cum, target, side="right") - 1, 0, days_total - 1)
    hour = rng.choice(24, size=len(cust_idx), p=HOURS / HOURS.sum())
    placed = start_s + day * DAY + hour * 3600 + rng.integers(0, 3600, len(cust_idx))
    first_at = begin[cust_idx] + rng.integers(0, 3600, len(cust_idx))
    placed = np.where(first_flag, first_at, placed)
    placed = np.clip(placed, start_s, end_s - 600)
    # Stores: a main store per buyer (80% of their orders).
    shares = np.array([s[3] for s in STORES])
    main_store = rng.choice(len(STORES), size=n, p=shares)
    store = np.where(
        rng.random(len(cust_idx)) < 0.8,
        main_store[cust_idx],
        rng.choice(len(STORES), size=len(cust_idx), p=shares),
    )
    order = np.argsort(placed, kind="stable")
    log(
        f"  plan: {len(b):,} buyers of {n:,} customers, {int((counts == 1).sum()):,} one-time, "
        f"max {int(counts.max())} orders"
    )
    return Plan(
        customer=ids[cust_idx][order],
        store=store[order],
        placed=placed[order],
        favourite=dict(zip(ids.tolist(), fav.tolist(), strict=True)),
        buyers=len(b),
        one_time_buyers=int((counts == 1).sum()),
    )


# One batch of orders and lines -------------------------------------------------------------------


def _times(seconds: np.ndarray, pg: bool) -> list:
    """Unix seconds (−1 = NULL) → what the backend stores (SQLite: naive UTC text)."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    text = np.char.replace(text, "T", " ")
    if pg:
        text = np.char.add(text, "+00")
    out = text.tolist()
    if (seconds < 0).any():
        for i in np.flatnonzero(seconds < 0).tolist():
            out[i] = None
    return out


def build_batch(
    plan_: Plan,
    lo: int,
    hi: int,
    *,
    seed: int,
    cat: Catalogue,
    festival: np.ndarray,
    first_item_id: int,
    pg: bool,
):
    """Order rows lo..hi-1 (ids lo+1..hi) and their lines, as column lists."""
    rng = np.random.default_rng([seed, lo])
    m = hi - lo
    end_s = int(END.timestamp())
    start_s = int(START.timestamp())
    cust = plan_.customer[lo:hi]
    store = plan_.store[lo:hi]
    placed = plan_.placed[lo:hi]
    order_ids = np.arange(lo + 1, hi + 1)
    day = np.clip((placed - start_s) // DAY, 0, len(festival) - 1)
    fest = festival[day]

    # Lines.
    n_lines = np.minimum(1 + rng.poisson(0.7, m), 6)
    total = int(n_lines.sum())
    line_order = np.repeat(np.arange(m), n_lines)
    fav = np.array([plan_.favourite[c] for c in cust.tolist()])[line_order]
    n_prod = len(cat.product_ids)
    per_root = n_prod // 6
    zipf_local = 1.0 / np.arange(1, per_root + 1) ** 0.9
    zipf_local /= zipf_local.sum()
    local = rng.choice(per_root, size=total, p=zipf_local)
    # Products of a root are contiguous (setup_catalogue walks the tree in order).
    from_fav = rng.random(total) < 0.65
    any_root = rng.integers(0, 6, total)
    prod = np.where(from_fav, fav, any_root) * per_root + local
    qty = rng.choice([1, 2, 3], size=total, p=[0.85, 0.11, 0.04])
    unit = cat.price_cents[prod]
    amount = unit * qty
    cost = cat.cost_cents[prod] * qty
    goods = np.bincount(line_order, weights=amount, minlength=m).astype(np.int64)
    cost_o = np.bincount(line_order, weights=cost, minlength=m).astype(np.int64)
    items = np.bincount(line_order, weights=qty, minlength=m).astype(np.int64)

    # Amounts.
    has_discount = np.where(fest, rng.random(m) < 0.8, rng.random(m) < 0.33)
    pct = np.where(fest, rng.uniform(0.15, 0.3, m), rng.uniform(0.05, 0.2, m))
    discount = np.where(has_discount, (goods * pct).astype(np.int64), 0)
    offline = store == 3
    shipping = np.where(offline | (goods >= 9900), 0, np.where(rng.random(m) < 0.5, 800, 1000))
    paid_amount = np.maximum(goods - discount + shipping, 0)

    # Status and times (−1 = NULL).
    none = np.full(m, -1, dtype=np.int64)
    unpaid = rng.random(m) < UNPAID_RATE
    paid_at = np.where(unpaid, -1, placed + np.minimum(rng.lognormal(4.5, 1.2, m), 7200))
    paid_at = np.minimum(paid_at, end_s - 1).astype(np.int64)
    shipped_at = np.where(offline, paid_at, paid_at + rng.integers(2 * 3600, 48 * 3600, m))
    received_at = np.where(offline, paid_at, shipped_at + rng.integers(DAY, 6 * DAY, m))
    shipped_at = np.where(unpaid | (shipped_at >= end_s), -1, shipped_at)
    received_at = np.where((shipped_at < 0) | (received_at >= end_s), -1, received_at)
    status = np.where(received_at >= 0, "received", np.where(shipped_at >= 0, "shipped", "paid"))
    closed = unpaid & (placed < end_s - 3 * DAY)
    cancelled_at = np.where(closed, placed + DAY, none)
    status = np.where(unpaid, np.where(closed, "cancelled", "placed"), status)
    refund = ~unpaid & (rng.random(m) < REFUND_RATE)
    refunded_at = np.where(refund, paid_at + rng.integers(3600, 10 * DAY, m), none)
    refund &= refunded_at < end_s
    refunded_at = np.where(refund, refunded_at, none)
    # Partial only when there is something left to keep; one line is refunded whole.
    multi = (n_lines > 1) | (items > 1)
    full = refund & ((rng.random(m) < FULL_REFUND_SHARE) | ~multi)
    partial = refund & ~full
    line_refund = np.zeros(total, dtype=np.int64)
    first_line = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    line_refund[np.repeat(full, n_lines)] = qty[np.repeat(full, n_lines)]
    # Partial: the first line (whole) when there are several lines, else one unit.
    part_idx = first_line[partial]
    several = n_lines[partial] > 1
    line_refund[part_idx] = np.where(several, qty[part_idx], 1)
    refunded_goods = np.bincount(line_order, weights=line_refund * unit, minlength=m)
    share = np.divide(refunded_goods, goods, out=np.zeros(m), where=goods > 0)
    refunded_amount = np.where(
        full, paid_amount, np.where(partial, np.floor(paid_amount * share), 0)
    ).astype(np.int64)
    status = np.where(full, "refunded", status)

    prefix = [s[4] for s in STORES]
    ext_prefix = ["TM", "JD", "WEB", "POS"]
    store_ids = cat.store_ids
    buyer = [f"{prefix[s]}{c:08d}" for s, c in zip(store.tolist(), cust.tolist(), strict=True)]
    now_s = np.minimum(
        np.maximum.reduce([placed, paid_at, shipped_at, received_at, cancelled_at, refunded_at]),
        end_s,
    )
    placed_t = _times(placed, pg)
    changed_t = _times(now_s, pg)
    money = _money(pg)
    orders = {
        "id": order_ids.tolist(),
        "store_id": [store_ids[s] for s in store.tolist()],
        "external_id": [
            f"{ext_prefix[s]}{2_600_000_000 + i:010d}"
            for s, i in zip(store.tolist(), order_ids.tolist(), strict=True)
        ],
        "customer_id": cust.tolist(),
        "buyer_external_id": buyer,
        "status": status.tolist(),
        "currency": ["CNY"] * m,
        "goods_amount": money(goods),
        "discount_amount": money(discount),
        "shipping_amount": money(shipping),
        "paid_amount": money(np.where(unpaid, 0, paid_amount)),
        "refunded_amount": money(refunded_amount),
        "cost_amount": money(cost_o),
        "item_count": items.tolist(),
        "placed_at": placed_t,
        "paid_at": _times(paid_at, pg),
        "shipped_at": _times(shipped_at, pg),
        "received_at": _times(received_at, pg),
        "cancelled_at": _times(cancelled_at, pg),
        "refunded_at": _times(refunded_at, pg),
        "created_at": placed_t,
        "updated_at": changed_t,
    }
    line_ids = np.arange(first_item_id, first_item_id + total)
    lines = {
        "id": line_ids.tolist(),
        "order_id": order_ids[line_order].tolist(),
        "product_id": cat.product_ids[prod].tolist(),
        "sku": [cat.skus[p] for p in prod.tolist()],
        "name": [cat.names[p] for p in prod.tolist()],
        "quantity": qty.tolist(),
        "unit_price": money(unit),
        "amount": money(amount),
        "unit_cost": money(cat.cost_cents[prod]),
        "refunded_quantity": line_refund.tolist(),
    }
    links = set(zip(store.tolist(), cust.tolist(), strict=True))
    figures = {
        "unpaid": int(unpaid.sum()),
        "closed": int(closed.sum()),
        "refunded_full": int(full.sum()),
        "refunded_partial": int(partial.sum()),
        "lines": total,
        "festival_orders": int(fest.sum()),
    }
    return orders, lines, links, figures


def _money(pg: bool) -> Callable[[np.ndarray], list]:
    if pg:
        return lambda cents: [f"{c // 100}.{c % 100:02d}" for c in cents.tolist()]
    return lambda cents: (cents / 100).tolist()


# Loading ----------------------------------------------------------------------------------------


class _Writer:
    """COPY (PostgreSQL, text format) or executemany (SQLite) of column lists."""

    def __init__(self, connection):
        self.raw = connection.connection
        self.pg = connection.vendor == "postgresql"

    def write(self, table: str, columns: dict[str, list], extra: dict | None = None) -> None:
        names = list(columns) + list(extra or {})
        n = len(next(iter(columns.values())))
        cols = list(columns.values()) + [[v] * n for v in (extra or {}).values()]
        if self.pg:
            with self.raw.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                    buf = []
                    for row in zip(*cols, strict=True):
                        buf.append("\t".join("\\N" if v is None else str(v) for v in row))
                        if len(buf) >= 20_000:
                            copy.write("\n".join(buf) + "\n")
                            buf = []
                    if buf:
                        copy.write("\n".join(buf) + "\n")
        else:
            marks = ", ".join("?" * len(names))
            self.raw.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
                zip(*cols, strict=True),
            )


def _defaults(model, generated: list[str], connection) -> dict:
    """Model defaults of the columns the generator does not fill."""
    out = {}
    for f in model._meta.concrete_fields:
        if f.column not in generated:
            value = f.get_db_prep_save(f.get_default(), connection)
            if isinstance(value, datetime.datetime):
                value = value.isoformat(" ")
            out[f.column] = value
    return out


def load(
    n_orders: int = DEFAULT_ORDERS,
    *,
    seed: int = 42,
    batch: int = BATCH,
    log: Callable[[str], None] = print,
) -> dict:
    """Add ``n_orders`` orders (and lines, buyer ids) for the customers of the default
    database, whose order tables must be empty; returns counts and timings."""
    from django.db import connection, transaction

    from bench.generate import _secondary_indexes
    from guanxi.commerce.models import Order, OrderItem, StoreBuyer

    orders_t, items_t = Order._meta.db_table, OrderItem._meta.db_table
    buyers_t = StoreBuyer._meta.db_table
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {orders_t}")
        if cur.fetchone()[0]:
            raise RuntimeError("orders.load() fills an empty order table")
    started = time.perf_counter()
    cat = setup_catalogue(seed)
    plan_ = plan(connection, n_orders, seed, log)
    planned = time.perf_counter() - started
    log(f"  planned {n_orders:,} orders in {planned:.0f}s")
    dropped = []
    for table in (orders_t, items_t, buyers_t):
        for name, sql in _secondary_indexes(connection, table):
            with connection.cursor() as cur:
                cur.execute(f'DROP INDEX "{name}"')
            dropped.append((name, sql))
    log(f"  dropped {len(dropped)} secondary indexes for the load")
    with connection.cursor() as cur:
        if pg:
            try:
                cur.execute("SET session_replication_role = replica")
            except Exception:
                pass
        else:
            cur.execute("PRAGMA synchronous = OFF")
    writer = _Writer(connection)
    order_extra = _defaults(Order, ORDER_COLUMNS, connection)
    item_extra = _defaults(OrderItem, ITEM_COLUMNS, connection)
    festival = festival_days((int(END.timestamp()) - int(START.timestamp())) // DAY + 1)
    links: dict[tuple[int, int], int] = {}
    figures: dict[str, int] = {}
    next_item = 1
    load_started = time.perf_counter()
    for lo in range(0, n_orders, batch):
        hi = min(lo + batch, n_orders)
        orders, lines, batch_links, batch_figures = build_batch(
            plan_, lo, hi, seed=seed, cat=cat, festival=festival, first_item_id=next_item, pg=pg
        )
        next_item += len(lines["id"])
        for key, value in batch_figures.items():
            figures[key] = figures.get(key, 0) + value
        for link in batch_links:
            links.setdefault(link, lo)
        with transaction.atomic():
            writer.write(orders_t, orders, order_extra)
            writer.write(items_t, lines, item_extra)
        if hi % (batch * 5) == 0 or hi == n_orders:
            rate = hi / (time.perf_counter() - load_started)
            log(f"  {hi:>9,} orders, {next_item - 1:>10,} lines ({rate:,.0f} orders/s)")
    # Buyer ids: one per (store, customer), created with the customer's first order there.
    prefix = [s[4] for s in STORES]
    link_rows = sorted(links)
    first_seen = {}
    for (s, c), lo in links.items():
        first_seen[(s, c)] = int(plan_.placed[lo])
    buyers = {
        "store_id": [cat.store_ids[s] for s, _c in link_rows],
        "buyer_external_id": [f"{prefix[s]}{c:08d}" for s, c in link_rows],
        "customer_id": [c for _s, c in link_rows],
        "created_at": _times(np.array([first_seen[k] for k in link_rows], dtype=np.int64), pg),
    }
    with transaction.atomic():
        writer.write(buyers_t, buyers)
    loaded = time.perf_counter() - load_started
    with connection.cursor() as cur:
        if pg:
            cur.execute("SET session_replication_role = DEFAULT")
            cur.execute("SET maintenance_work_mem = '512MB'")
        else:
            cur.execute("PRAGMA synchronous = NORMAL")
        index_started = time.perf_counter()
        for _name, sql in dropped:
            cur.execute(sql)
        indexed = time.perf_counter() - index_started
        log(f"  rebuilt {len(dropped)} indexes in {indexed:.1f}s")
        if pg:
            for table in (orders_t, items_t, buyers_t):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
                cur.execute(f"VACUUM ANALYZE {table}")
        else:
            cur.execute("ANALYZE")
    total = time.perf_counter() - started
    result = {
        "orders": n_orders,
        "order_lines": next_item - 1,
        "store_buyers": len(link_rows),
        "buyers": plan_.buyers,
        "one_time_buyers": plan_.one_time_buyers,
        "products": len(cat.product_ids),
        "stores": len(cat.store_ids),
        **figures,
        "seed": seed,
        "plan_seconds": round(planned, 1),
        "load_seconds": round(loaded, 1),
        "index_seconds": round(indexed, 1),
        "total_seconds": round(total, 1),
    }
    log(f"  {n_orders:,} orders in {total:.0f}s: {json.dumps(result)}")
    return result
