"""Synthetic customers at scale, written straight into the database (deterministic per seed).

Realistic shapes rather than uniform noise: Chinese surnames with their real frequency
(王 李 张 刘 陈 first), given names that repeat (many 张伟), unique valid mobiles,
e-mails on ~40%, skewed stage / grade / source / province distributions, owners spread
over ~50 users in 8 teams, tags on ~30% and values for three custom fields, created over
three years.

Rows go in with raw ``executemany`` (SQLite) or ``COPY`` (PostgreSQL); the secondary
indexes of the customer and tag tables are dropped during the load and rebuilt after it,
which is several times faster than maintaining them row by row.

Used by ``bench.run``; on its own (against ``DATABASE_URL``)::

    python -m bench.generate --customers 100000 --csv bench/out/import.csv
"""

import argparse
import bisect
import csv
import datetime
import itertools
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CUSTOMERS = 1_000_000
DEFAULT_SEED = 42
DEFAULT_CSV_ROWS = 200_000
BATCH = 10_000
UTC = datetime.UTC
END = datetime.datetime(2026, 11, 1, tzinfo=UTC)  # fixed, so a seed always gives the same data
SPAN = datetime.timedelta(days=3 * 365)
# Imported rows use their own range of sequence numbers, so their phones and external ids
# never collide with the generated customers.
CSV_OFFSET = 50_000_000

SURNAMES = {
    "王": 7.1, "李": 7.0, "张": 6.7, "刘": 5.4, "陈": 4.5, "杨": 3.1, "黄": 2.2, "赵": 2.0,
    "吴": 1.9, "周": 1.9, "徐": 1.5, "孙": 1.4, "马": 1.3, "朱": 1.2, "胡": 1.1, "郭": 1.1,
    "何": 1.0, "高": 1.0, "林": 1.0, "罗": 0.9, "郑": 0.9, "梁": 0.8, "谢": 0.7, "宋": 0.6,
    "唐": 0.6, "许": 0.6, "韩": 0.5, "冯": 0.5, "邓": 0.5, "曹": 0.5, "彭": 0.5, "曾": 0.5,
    "肖": 0.5, "田": 0.4, "董": 0.4, "袁": 0.4, "潘": 0.4, "于": 0.4, "蒋": 0.4, "蔡": 0.4,
    "余": 0.4, "杜": 0.4, "叶": 0.4, "程": 0.4, "苏": 0.3, "魏": 0.3, "吕": 0.3, "丁": 0.3,
    "任": 0.3, "沈": 0.3, "姚": 0.3, "卢": 0.3, "姜": 0.3, "崔": 0.3, "钟": 0.3, "谭": 0.3,
    "陆": 0.3, "汪": 0.3, "范": 0.3, "金": 0.3, "石": 0.3, "廖": 0.3, "贾": 0.3, "夏": 0.3,
    "韦": 0.2, "付": 0.2, "方": 0.2, "白": 0.2, "邹": 0.2, "孟": 0.2, "熊": 0.2, "秦": 0.2,
    "邱": 0.2, "江": 0.2, "尹": 0.2, "薛": 0.2, "闫": 0.2, "段": 0.2, "雷": 0.2, "侯": 0.2,
    "龙": 0.2, "史": 0.2, "陶": 0.2, "黎": 0.2, "贺": 0.2, "顾": 0.2, "毛": 0.2, "郝": 0.2,
    "龚": 0.2, "邵": 0.2, "万": 0.2, "钱": 0.2, "严": 0.2, "欧阳": 0.05, "司马": 0.02,
}  # fmt: skip
# Given-name characters, most frequent first (weights fall off like Zipf's law).
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建文斌宇浩凯俊帆晨欣怡婷"
    "雪琳颖佳慧倩晶丹亮飞波宁鑫博宏志峰国庆海燕云梅莉凤洁琴梦瑶子涵轩梓豪然诗雨思嘉昊天泽诺睿"
)
COMPANY_WORDS = "华信 恒通 鑫源 宏达 金鼎 瑞丰 盛世 东方 天成 博远 汇通 永泰 新锐 中联 润和".split()
INDUSTRIES = "贸易 科技 电子 食品 服饰 家居 建材 物流 医药 文化 餐饮 母婴".split()
REGIONS = {
    ("广东省", 12): ["广州市", "深圳市", "东莞市", "佛山市"],
    ("江苏省", 9): ["南京市", "苏州市", "无锡市"],
    ("浙江省", 8): ["杭州市", "宁波市", "温州市"],
    ("山东省", 7): ["济南市", "青岛市", "烟台市"],
    ("河南省", 6): ["郑州市", "洛阳市"],
    ("四川省", 6): ["成都市", "绵阳市"],
    ("北京市", 5): ["北京市"],
    ("上海市", 5): ["上海市"],
    ("湖北省", 5): ["武汉市", "宜昌市"],
    ("湖南省", 4.5): ["长沙市", "株洲市"],
    ("河北省", 4.5): ["石家庄市", "唐山市"],
    ("福建省", 4): ["福州市", "厦门市", "泉州市"],
    ("安徽省", 4): ["合肥市", "芜湖市"],
    ("陕西省", 3): ["西安市"],
    ("辽宁省", 3): ["沈阳市", "大连市"],
    ("重庆市", 3): ["重庆市"],
    ("天津市", 2): ["天津市"],
    ("云南省", 2): ["昆明市"],
    ("广西壮族自治区", 2): ["南宁市", "桂林市"],
    ("江西省", 2): ["南昌市"],
    ("山西省", 1.5): ["太原市"],
    ("黑龙江省", 1.5): ["哈尔滨市"],
    ("吉林省", 1): ["长春市"],
    ("贵州省", 1): ["贵阳市"],
    ("海南省", 0.5): ["海口市", "三亚市"],
    ("甘肃省", 0.5): ["兰州市"],
    ("新疆维吾尔自治区", 0.5): ["乌鲁木齐市"],
    ("", 4): [""],
}
DISTRICTS = "高新区 经开区 城关区 新城区 老城区 开发区 滨江区 南山区".split()
STREETS = "人民路 解放路 中山路 建设路 和平路 新华路 长江路 黄河路 文化路 朝阳路".split()
STAGES = {"lead": 35, "prospect": 18, "customer": 30, "vip": 4, "dormant": 9, "lost": 4}
GRADES = {"": 15, "A": 8, "B": 22, "C": 35, "D": 20}
SOURCES = {
    "taobao": 14, "tmall": 10, "jd": 10, "pinduoduo": 8, "douyin": 12, "wechat": 16,
    "website": 8, "offline": 10, "referral": 6, "exhibition": 3, "other": 3,
}  # fmt: skip
EMAIL_DOMAINS = {"qq.com": 35, "163.com": 25, "126.com": 10, "gmail.com": 8, "foxmail.com": 7,
                 "outlook.com": 6, "sina.com": 5, "139.com": 4}  # fmt: skip
# Mobile prefixes that libphonenumber accepts as valid Chinese mobiles.
MOBILE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "166", "177", "180", "181",
    "182", "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
]  # fmt: skip
TAGS = [
    ("高价值", "#dc2626"), ("复购", "#16a34a"), ("价格敏感", "#f59e0b"), ("直播间", "#db2777"),
    ("企业客户", "#2563eb"), ("投诉过", "#6b7280"), ("新品尝鲜", "#7c3aed"), ("会员日", "#0891b2"),
    ("双十一", "#ea580c"), ("618", "#ca8a04"), ("老客推荐", "#059669"), ("待回访", "#9333ea"),
    ("母婴", "#f472b6"), ("数码", "#0ea5e9"), ("美妆", "#e11d48"), ("户外", "#65a30d"),
    ("批发", "#92400e"), ("海外", "#1d4ed8"), ("学生", "#14b8a6"), ("沉睡唤醒", "#64748b"),
]  # fmt: skip
MEMBER_LEVELS = {"普通会员": 55, "银卡会员": 25, "金卡会员": 15, "钻石会员": 5}
CUSTOM_FIELDS = [
    {"key": "member_level", "label": "会员等级", "type": "choice",
     "choices": list(MEMBER_LEVELS), "position": 1},
    {"key": "annual_budget", "label": "年度预算", "type": "number", "choices": [], "position": 2},
    {"key": "wechat_bound", "label": "已绑定微信", "type": "bool", "choices": [], "position": 3},
]  # fmt: skip
TEAMS = ["华东一组", "华东二组", "华南一组", "华南二组", "华北组", "华中组", "西南组", "电商组"]
SALES_PER_TEAM = 5
# Headers of the import CSV, as a Chinese user's spreadsheet would have them.
CSV_HEADERS = [
    "姓名", "手机", "邮箱", "性别", "生日", "省份", "城市", "区县", "地址", "来源",
    "阶段", "等级", "标签", "备注", "外部编号", "会员等级", "年度预算",
]  # fmt: skip


class Weighted:
    """Fast weighted choice (bisect on cumulative weights) for a fixed population."""

    def __init__(self, weights: dict):
        self.values = list(weights)
        self.cum = list(itertools.accumulate(weights.values()))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random):
        return self.values[bisect.bisect(self.cum, rng.random() * self.total)]


SURNAME = Weighted(SURNAMES)
GIVEN_CHAR = Weighted({c: 1 / (i + 1) ** 0.7 for i, c in enumerate(GIVEN)})
REGION = Weighted({(p, tuple(cities)): w for (p, w), cities in REGIONS.items()})
STAGE = Weighted(STAGES)
GRADE = Weighted(GRADES)
SOURCE = Weighted(SOURCES)
DOMAIN = Weighted(EMAIL_DOMAINS)
MEMBER_LEVEL = Weighted(MEMBER_LEVELS)
GENDER = Weighted({"male": 45, "female": 45, "": 10})
TAG_RANK = Weighted({i: 1 / (i + 1) ** 0.8 for i in range(len(TAGS))})


@dataclass
class World:
    """The users, teams, tags and custom fields the customers refer to."""

    admin_id: int
    owners: Weighted  # (owner_id, team_id) weighted by how busy the rep is
    tag_ids: list[int]
    users: dict[str, int] = field(default_factory=dict)  # username → id
    teams: dict[str, int] = field(default_factory=dict)  # name → id


def setup_world(seed: int = DEFAULT_SEED) -> World:
    """Teams, ~50 users, tags and custom fields (idempotent: reuses what exists)."""
    from guanxi.accounts.models import Team, User
    from guanxi.customers.models import CustomField, Tag

    rng = random.Random(seed)
    admin, _ = User.objects.get_or_create(
        username="bench_admin", defaults={"role": "admin", "display_name": "基准管理员"}
    )
    users = {"bench_admin": admin.pk}
    teams = {}
    owners = {}
    for t, team_name in enumerate(TEAMS):
        team, _ = Team.objects.get_or_create(name=team_name)
        teams[team_name] = team.pk
        manager, _ = User.objects.get_or_create(
            username=f"bench_mgr{t + 1}",
            defaults={"role": "manager", "team": team, "display_name": f"{team_name}经理"},
        )
        if team.manager_id != manager.pk:
            team.manager = manager
            team.save(update_fields=["manager"])
        users[manager.username] = manager.pk
        owners[(manager.pk, team.pk)] = 0.5
        for s in range(SALES_PER_TEAM):
            rep, _ = User.objects.get_or_create(
                username=f"bench_sales{t + 1}_{s + 1}",
                defaults={"role": "sales", "team": team, "display_name": f"{team_name}销售{s + 1}"},
            )
            users[rep.username] = rep.pk
            owners[(rep.pk, team.pk)] = rng.uniform(0.5, 2.0)
    for role in ("service", "marketing", "analyst"):
        user, _ = User.objects.get_or_create(username=f"bench_{role}", defaults={"role": role})
        users[user.username] = user.pk
    owners[(None, None)] = sum(owners.values()) * 0.04 / 0.96  # 4% in the public pool
    tag_ids = []
    for name, color in TAGS:
        tag, _ = Tag.objects.get_or_create(name=name, defaults={"color": color})
        tag_ids.append(tag.pk)
    for spec in CUSTOM_FIELDS:
        CustomField.objects.get_or_create(key=spec["key"], defaults=spec)
    return World(
        admin_id=admin.pk, owners=Weighted(owners), tag_ids=tag_ids, users=users, teams=teams
    )


# Sequence number k → a unique mobile: an affine bijection on 8 digits keeps them unique
# while looking random; the prefix adds variety (uniqueness comes from the suffix alone).
_PHONE_A = 48_271_337  # odd and not a multiple of 5: coprime with 10**8


def mobile(k: int, seed: int) -> str:
    suffix = (_PHONE_A * k + seed * 7_919) % 100_000_000
    prefix = MOBILE_PREFIXES[(k * 31 + seed) % len(MOBILE_PREFIXES)]
    return f"+86{prefix}{suffix:08d}"


class Names:
    """Person and company names with their pinyin keys, cached: names repeat a lot."""

    def __init__(self):
        from guanxi.core.normalize import name_pinyin

        self._pinyin = name_pinyin
        self.cache: dict[str, tuple[str, str]] = {}

    def keys(self, name: str) -> tuple[str, str]:
        found = self.cache.get(name)
        if found is None:
            found = self.cache[name] = self._pinyin(name)
        return found

    @staticmethod
    def person(rng: random.Random) -> str:
        given = GIVEN_CHAR.pick(rng)
        if rng.random() < 0.65:
            given += GIVEN_CHAR.pick(rng)
        return SURNAME.pick(rng) + given

    @staticmethod
    def company(rng: random.Random, city: str) -> str:
        place = (city or "上海市").removesuffix("市")
        return f"{place}{rng.choice(COMPANY_WORDS)}{rng.choice(INDUSTRIES)}有限公司"


@dataclass
class Person:
    """One synthetic customer, as plain values (shared by the loader and the CSV)."""

    k: int
    kind: str
    name: str
    pinyin: str
    initials: str
    phone: str
    phones_extra: list
    email: str
    gender: str
    birthday: datetime.date | None
    province: str
    city: str
    district: str
    address: str
    source: str
    stage: str
    grade: str
    tags: list[int]  # indexes into TAGS
    external_id: str | None
    custom: dict
    owner: tuple
    created_at: datetime.datetime
    updated_at: datetime.datetime


def people(start: int, count: int, *, seed: int, total: int, world: World | None, names: Names):
    """Customers with sequence numbers start .. start+count-1, in creation order."""
    rng = random.Random(seed * 1_000_003 + start)
    step = SPAN / max(total, 1)
    for k in range(start, start + count):
        province, cities = REGION.pick(rng)
        city = rng.choice(cities)
        company = rng.random() < 0.08
        name = Names.company(rng, city) if company else Names.person(rng)
        pinyin, initials = names.keys(name)
        email = ""
        if rng.random() < 0.40:
            domain = DOMAIN.pick(rng)
            if domain in ("qq.com", "foxmail.com") and rng.random() < 0.5:
                email = f"{rng.randrange(10**5, 10**10)}@{domain}"
            else:
                email = f"{pinyin[:20]}{k % 10_000:04d}@{domain}"
        tags = []
        if rng.random() < 0.30:
            how_many = 1 if rng.random() < 0.6 else (2 if rng.random() < 0.75 else 3)
            tags = sorted({TAG_RANK.pick(rng) for _ in range(how_many)})
        custom = {}
        if rng.random() < 0.70:
            custom["member_level"] = MEMBER_LEVEL.pick(rng)
        if rng.random() < 0.40:
            custom["annual_budget"] = rng.randrange(1_000, 500_000, 100)
        if rng.random() < 0.60:
            custom["wechat_bound"] = rng.random() < 0.65
        seq = k - CSV_OFFSET if k >= CSV_OFFSET else k
        created = END - SPAN + step * seq + datetime.timedelta(seconds=rng.randrange(-21600, 21600))
        created = min(created, END)
        updated = min(created + datetime.timedelta(days=rng.random() * 180), END)
        yield Person(
            k=k,
            kind="company" if company else "person",
            name=name,
            pinyin=pinyin,
            initials=initials,
            phone=mobile(k, seed),
            phones_extra=[mobile(k + 60_000_000, seed)] if rng.random() < 0.05 else [],
            email=email,
            gender="" if company else GENDER.pick(rng),
            birthday=(
                datetime.date(1960, 1, 1) + datetime.timedelta(days=rng.randrange(16_800))
                if not company and rng.random() < 0.5
                else None
            ),
            province=province,
            city=city,
            district=rng.choice(DISTRICTS) if province and rng.random() < 0.5 else "",
            address=(
                f"{rng.choice(STREETS)}{rng.randrange(1, 999)}号" if rng.random() < 0.4 else ""
            ),
            source=SOURCE.pick(rng),
            stage=STAGE.pick(rng),
            grade=GRADE.pick(rng),
            tags=tags,
            external_id=f"C{k:08d}" if rng.random() < 0.6 else None,
            custom=custom,
            owner=world.owners.pick(rng) if world else (None, None),
            created_at=created,
            updated_at=updated,
        )


# Columns this generator fills; any other column of the table gets its model default.
GENERATED = [
    "id", "kind", "name", "name_pinyin", "name_initials", "phone", "phones_extra", "email",
    "emails_extra", "gender", "birthday", "province", "city", "district", "address", "source",
    "stage", "grade", "notes", "external_id", "custom", "owner_id", "team_id", "created_by_id",
    "created_at", "updated_at",
]  # fmt: skip


def _columns(connection):
    """(column names, constant values for the columns we do not generate)."""
    from guanxi.customers.models import Customer

    extra = {}
    for f in Customer._meta.concrete_fields:
        if f.column not in GENERATED:
            extra[f.column] = f.get_db_prep_save(f.get_default(), connection)
    return GENERATED + list(extra), list(extra.values())


def _dt(connection) -> Callable:
    if connection.vendor == "sqlite":
        # What Django's SQLite backend stores: naive UTC text.
        return lambda d: d.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return lambda d: d


def _row(p: Person, cid: int, world: World, dt, extra: list) -> tuple:
    owner_id, team_id = p.owner
    return (
        cid, p.kind, p.name, p.pinyin, p.initials, p.phone, json.dumps(p.phones_extra), p.email,
        "[]", p.gender, p.birthday.isoformat() if p.birthday else None, p.province, p.city,
        p.district, p.address, p.source, p.stage, p.grade, "", p.external_id,
        json.dumps(p.custom, ensure_ascii=False), owner_id, team_id, owner_id or world.admin_id,
        dt(p.created_at), dt(p.updated_at), *extra,
    )  # fmt: skip


def _secondary_indexes(connection, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes of ``table`` that no constraint owns."""
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%%'",
                [table],
            )
        else:
            cur.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE t.relname = %s AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
                [table],
            )
        return list(cur.fetchall())


AUDIT_COLUMNS = ["at", "actor_id", "action", "model", "object_id", "object_repr", "changes", "note"]


def _audit_rows(p: Person, cid: int, world: World, dt) -> list[tuple]:
    """The history a customer would have: its creation and, for one in five, a change."""
    actor = p.owner[0] or world.admin_id
    created = {"name": [None, p.name], "phone": [None, p.phone], "stage": [None, p.stage]}
    rows = [
        (dt(p.created_at), actor, "create", "customers.customer", cid, p.name,
         json.dumps(created, ensure_ascii=False), ""),
    ]  # fmt: skip
    if cid % 5 == 0 and p.updated_at > p.created_at:
        change = {"stage": ["lead", p.stage]} if p.stage != "lead" else {"grade": ["", "C"]}
        rows.append(
            (dt(p.updated_at), actor, "update", "customers.customer", cid, p.name,
             json.dumps(change, ensure_ascii=False), "")
        )  # fmt: skip
    return rows


class _Writer:
    """Bulk inserts: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, connection):
        self.raw = connection.connection
        self.pg = connection.vendor == "postgresql"

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        cols = ", ".join(columns)
        if self.pg:
            with self.raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            self.raw.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)


def load(
    n: int = DEFAULT_CUSTOMERS,
    *,
    seed: int = DEFAULT_SEED,
    batch: int = BATCH,
    with_audit: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Add ``n`` customers, their tags and audit history to an empty customer table of
    the default database; returns timings."""
    from django.db import connection, transaction

    from guanxi.core.models import AuditEntry
    from guanxi.customers.models import Customer

    world = setup_world(seed)
    names = Names()
    customers = Customer._meta.db_table
    through = Customer.tags.through._meta.db_table
    audit_table = AuditEntry._meta.db_table
    tables = [customers, through, audit_table]
    columns, extra = _columns(connection)
    dt = _dt(connection)
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {customers}")
        if cur.fetchone()[0]:
            raise RuntimeError("load() fills an empty customer table; start from a fresh database")
    started = time.perf_counter()
    dropped = []
    for table in tables:
        for name, sql in _secondary_indexes(connection, table):
            with connection.cursor() as cur:
                cur.execute(f'DROP INDEX "{name}"')
            dropped.append((name, sql))
    log(f"  dropped {len(dropped)} secondary indexes for the load")
    with connection.cursor() as cur:
        if pg:
            try:  # skip per-row FK triggers: the data is consistent by construction
                cur.execute("SET session_replication_role = replica")
            except Exception:  # not a superuser: keep the checks
                pass
        else:
            cur.execute("PRAGMA synchronous = OFF")
    writer = _Writer(connection)
    done = audited = 0
    for start in range(0, n, batch):
        count = min(batch, n - start)
        rows, tag_rows, audit_rows = [], [], []
        for p in people(start, count, seed=seed, total=n, world=world, names=names):
            cid = p.k + 1
            rows.append(_row(p, cid, world, dt, extra))
            tag_rows.extend((cid, world.tag_ids[t]) for t in p.tags)
            if with_audit:
                audit_rows.extend(_audit_rows(p, cid, world, dt))
        with transaction.atomic():
            writer.write(customers, columns, rows)
            writer.write(through, ["customer_id", "tag_id"], tag_rows)
            writer.write(audit_table, AUDIT_COLUMNS, audit_rows)
        done += count
        audited += len(audit_rows)
        if done % (batch * 10) == 0 or done == n:
            rate = done / (time.perf_counter() - started)
            log(f"  {done:>9,} customers  ({rate:,.0f}/s, {len(names.cache):,} distinct names)")
    loaded = time.perf_counter() - started
    with connection.cursor() as cur:
        if pg:
            cur.execute("SET session_replication_role = DEFAULT")
            cur.execute("SET maintenance_work_mem = '256MB'")
        else:
            cur.execute("PRAGMA synchronous = NORMAL")
        for _name, sql in dropped:
            cur.execute(sql)
    indexed = time.perf_counter() - started - loaded
    log(f"  rebuilt {len(dropped)} indexes in {indexed:.1f}s")
    with connection.cursor() as cur:
        if pg:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{customers}', 'id'), "
                f"(SELECT MAX(id) FROM {customers}))"
            )
            for table in tables:
                cur.execute(f"VACUUM ANALYZE {table}")
        else:
            cur.execute("ANALYZE")
    total = time.perf_counter() - started
    log(f"  {n:,} customers in {total:.0f}s (load {loaded:.0f}s, indexes {indexed:.0f}s)")
    return {
        "customers": n,
        "audit_entries": audited,
        "seed": seed,
        "load_seconds": round(loaded, 1),
        "index_seconds": round(indexed, 1),
        "total_seconds": round(total, 1),
        "distinct_names": len(names.cache),
    }


def csv_rows(count: int, *, seed: int = DEFAULT_SEED) -> Iterator[list[str]]:
    """Rows of the import CSV (new customers, disjoint from the generated ones)."""
    names = Names()
    genders = {"male": "男", "female": "女", "": ""}
    for p in people(CSV_OFFSET, count, seed=seed + 1, total=count, world=None, names=names):
        yield [
            p.name,
            p.phone.removeprefix("+86"),
            p.email,
            genders[p.gender],
            p.birthday.isoformat() if p.birthday else "",
            p.province,
            p.city,
            p.district,
            p.address,
            p.source,
            p.stage,
            p.grade,
            ";".join(TAGS[t][0] for t in p.tags),
            "",
            f"IMP{p.k - CSV_OFFSET:08d}",
            p.custom.get("member_level", ""),
            str(p.custom.get("annual_budget", "")),
        ]


def write_csv(path: Path, count: int = DEFAULT_CSV_ROWS, *, seed: int = DEFAULT_SEED) -> Path:
    """The import benchmark's file: UTF-8 with BOM (as Excel writes it), Chinese headers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADERS)
        writer.writerows(csv_rows(count, seed=seed))
    return path


def main(argv=None):
    import os

    import django

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--csv", type=Path, help="also write the import CSV here")
    parser.add_argument("--csv-rows", type=int, default=DEFAULT_CSV_ROWS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    django.setup()
    if args.customers:
        load(args.customers, seed=args.seed)
    if args.csv:
        write_csv(args.csv, args.csv_rows, seed=args.seed)


if __name__ == "__main__":
    main()
