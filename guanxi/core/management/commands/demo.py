"""``guanxi demo``: a realistic, deterministic demo data set, built through the services.

Teams, one login per role, custom fields and tags, ~500 customers (people with Chinese
and some English names, a few companies with contacts) spread over two years, with
updates, marketing consents and some deliberate duplicates — every record created by
``customer_create`` / ``customer_update`` / ``consent_set`` / ``contact_create``, so the
audit log, the business events and the timelines are what real use would leave.

Runs once: if the demo users exist it only prints the logins (as ``--print-logins``).
"""

import contextlib
import datetime
import random
import unicodedata
from unittest import mock

from django.apps import apps
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from guanxi.accounts.models import Team, User
from guanxi.core import demo_data as data
from guanxi.core.normalize import name_pinyin
from guanxi.customers import services
from guanxi.customers.models import Customer, CustomField, Tag
from guanxi.customers.services import CustomerInput
from guanxi.sales import demo_sales

SEED = 42
DAYS_OF_HISTORY = 730


def demo_password(username: str) -> str:
    return f"{username}{data.DEMO_PASSWORD_SUFFIX}"


@contextlib.contextmanager
def demo_clock():
    """While building history, "now" is whatever ``clock["now"]`` says: the time
    stamps services and model defaults write (created_at, audit entries, events)."""
    real_now = timezone.now
    clock = {"now": None}

    def now():
        return clock["now"] or real_now()

    patched = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.default is real_now:
                patched.append(field)
                field.default = now
                field.__dict__.pop("_get_default", None)
    try:
        with mock.patch.object(timezone, "now", now):
            yield clock
    finally:
        for field in patched:
            field.default = real_now
            field.__dict__.pop("_get_default", None)


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


class Builder:
    """Makes the data; every random choice comes from one seeded generator."""

    def __init__(self, *, customers: int, stdout):
        self.rnd = random.Random(SEED)
        self.total = customers
        self.stdout = stdout
        self.phones: set[str] = set()
        # History runs from midnight (UTC) two years ago to yesterday: counts and
        # choices never depend on the time of day the command runs.
        self.now = timezone.now()
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.start = today - datetime.timedelta(days=DAYS_OF_HISTORY)

    # People and places ---------------------------------------------------------------

    def weighted(self, pairs):
        values, weights = zip(*pairs, strict=True)
        return self.rnd.choices(values, weights=weights)[0]

    def chinese_name(self, gender: str) -> str:
        surname = self.rnd.choices(data.SURNAMES, weights=data.SURNAME_WEIGHTS)[0]
        given = data.GIVEN_FEMALE if gender == "female" else data.GIVEN_MALE
        return surname + self.rnd.choice(given)

    def english_name(self, gender: str) -> str:
        first = data.ENGLISH_FEMALE if gender == "female" else data.ENGLISH_MALE
        return f"{self.rnd.choice(first)} {self.rnd.choice(data.ENGLISH_SURNAMES)}"

    def mobile(self) -> str:
        while True:
            number = self.rnd.choice(data.MOBILE_PREFIXES) + f"{self.rnd.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def email(self, name: str) -> str:
        local = name_pinyin(name)[0] or "user"
        domain = self.rnd.choices(data.EMAIL_DOMAINS, weights=data.EMAIL_DOMAIN_WEIGHTS)[0]
        if domain in ("qq.com", "foxmail.com") and self.rnd.random() < 0.5:
            return f"{self.rnd.randrange(10**7, 10**10)}@{domain}"
        return f"{local}{self.rnd.randrange(1, 999)}@{domain}"

    def place(self) -> dict:
        province = self.weighted(data.PROVINCE_WEIGHTS.items())
        city = self.rnd.choice(list(data.REGIONS[province]))
        district = self.rnd.choice(data.REGIONS[province][city])
        road = self.rnd.choice(data.ROADS)
        address = f"{road}{self.rnd.randrange(1, 999)}号{self.rnd.randrange(1, 30)}栋"
        address += f"{self.rnd.randrange(1, 30)}0{self.rnd.randrange(1, 9)}室"
        return {"province": province, "city": city, "district": district, "address": address}

    def moment(self) -> datetime.datetime:
        """A time in the last two years, in office hours more often than not."""
        day = self.start + datetime.timedelta(days=self.rnd.randrange(DAYS_OF_HISTORY))
        return day.replace(hour=self.rnd.randrange(1, 14), minute=self.rnd.randrange(60))

    # Setup ----------------------------------------------------------------------------

    def users(self) -> dict[str, User]:
        teams = {key: Team.objects.get_or_create(name=name)[0] for key, name in data.TEAMS.items()}
        users = {}
        for username, role, team_key, display_name in data.DEMO_USERS:
            user = User(
                username=username,
                role=role,
                team=teams.get(team_key),
                display_name=display_name,
                email=f"{username}@demo.guanxi.example",
                is_staff=role == "admin",
                is_superuser=role == "admin",
                language="zh-hans",
            )
            password = demo_password(username)
            validate_password(password, user)
            user.set_password(password)
            user.save()
            users[username] = user
        teams["east"].manager = users["manager"]
        teams["east"].save(update_fields=["manager"])
        return users

    def settings(self, admin: User) -> None:
        for name, color in data.TAGS:
            if not Tag.objects.filter(name=name).exists():
                services.tag_create(actor=admin, name=name, color=color)
        for spec in data.CUSTOM_FIELDS:
            if not CustomField.objects.filter(key=spec["key"]).exists():
                services.custom_field_create(actor=admin, data=spec)

    # Customers ------------------------------------------------------------------------

    def person(self) -> dict:
        gender = self.rnd.choice(["female", "female", "male", "male", ""])
        english = self.rnd.random() < 0.08
        name = self.english_name(gender or "male") if english else self.chinese_name(gender)
        stage = self.weighted(data.STAGES)
        row = {
            "kind": "person",
            "name": name,
            "gender": gender,
            "phone": self.mobile() if self.rnd.random() < 0.92 else "",
            "email": self.email(name) if self.rnd.random() < 0.45 else "",
            "source": self.weighted(data.SOURCES),
            "stage": stage,
            "grade": self.weighted(data.GRADES),
            **self.place(),
        }
        if self.rnd.random() < 0.7:
            age = self.rnd.randrange(20, 60)
            row["birthday"] = datetime.date(
                self.now.year - age, self.rnd.randrange(1, 13), self.rnd.randrange(1, 29)
            ).isoformat()
        if self.rnd.random() < 0.2:
            row["notes"] = self.rnd.choice(data.NOTES)
        tags = []
        if stage == "vip":
            tags += ["高价值", "会员"]
        elif stage == "customer" and self.rnd.random() < 0.4:
            tags.append("复购")
        elif stage == "lead" and self.rnd.random() < 0.5:
            tags.append("新客")
        if self.rnd.random() < 0.15:
            tags.append("价格敏感")
        row["tags"] = tags
        custom = {}
        if self.rnd.random() < 0.35:
            custom["wechat_id"] = f"wxid_{name_pinyin(name)[0][:10]}{self.rnd.randrange(100, 9999)}"
        if self.rnd.random() < 0.6:
            custom["preferred_category"] = self.rnd.choice(data.CATEGORIES)
        if stage in ("customer", "vip", "dormant"):
            levels = data.MEMBER_LEVELS[2:] if stage == "vip" else data.MEMBER_LEVELS[:3]
            custom["member_level"] = self.rnd.choice(levels)
        if stage == "vip":
            since = self.start + datetime.timedelta(days=self.rnd.randrange(-720, 0))
            custom["vip_since"] = since.date().isoformat()
        row["custom"] = custom
        return row

    def company(self) -> dict:
        place = self.place()
        city = place["city"].removesuffix("市")
        word, trade = self.rnd.choice(data.COMPANY_WORDS), self.rnd.choice(data.COMPANY_TRADES)
        name = f"{city}{word}{trade}有限公司"
        return {
            "kind": "company",
            "name": name,
            "phone": self.mobile(),
            "email": f"purchase{self.rnd.randrange(1, 99)}@{name_pinyin(word)[0]}.com.cn",
            "source": self.rnd.choice(data.COMPANY_SOURCES),
            "stage": self.rnd.choice(["prospect", "customer", "customer", "vip"]),
            "grade": self.rnd.choice(["A", "A", "B"]),
            "tags": ["企业采购"],
            "custom": {"preferred_category": self.rnd.choice(data.CATEGORIES)},
            **place,
        }

    def duplicate_of(self, original: dict) -> dict:
        """A second record of the same person: same phone, e-mail or a homophone name."""
        row = dict(original)
        row.pop("tags", None)
        row["custom"] = {}
        name = original["name"]
        kind = self.rnd.choice(["same_phone", "homophone", "extra_phone"])
        if kind == "homophone" and name[0] in data.HOMOPHONES:
            row["name"] = data.HOMOPHONES[name[0]] + name[1:]
            row["phone"] = ""
            row["email"] = original.get("email") or self.email(name)
        elif kind == "extra_phone" and original.get("phone"):
            row["phone"] = self.mobile()
            row["phones_extra"] = [original["phone"]]
            row["email"] = ""
        else:
            row["phone"] = original.get("phone") or self.mobile()
            row["email"] = ""
        row["source"] = self.weighted(data.SOURCES)
        row["stage"] = "lead"
        row["grade"] = ""
        row.pop("notes", None)
        return row

    def owner_for(self, row: dict, users: dict[str, User]) -> User:
        team = data.PROVINCE_TEAM.get(row.get("province"))
        if team == "south":
            return users["sales2"]
        if team == "east":
            return users["manager"] if self.rnd.random() < 0.15 else users["sales"]
        return self.rnd.choice([users["sales"], users["sales2"], users["manager"]])

    def customers(self, users: dict[str, User], clock: dict) -> list[Customer]:
        companies = max(1, self.total // 25)
        duplicates = max(2, self.total // 40)
        people = self.total - companies - duplicates
        rows = [self.person() for _ in range(people)] + [self.company() for _ in range(companies)]
        for index in self.rnd.sample(range(people), duplicates):
            rows.append(self.duplicate_of(rows[index]))
        times = sorted(self.moment() for _ in rows)
        order = list(range(len(rows)))
        self.rnd.shuffle(order)
        contexts = {pk: CustomerInput(user) for pk, user in users.items()}
        created = []
        for at, index in zip(times, order, strict=True):
            row = rows[index]
            owner = self.owner_for(row, users)
            clock["now"] = at
            created.append(
                services.customer_create(actor=owner, data=row, context=contexts[owner.username])
            )
        return created

    def contacts(self, customers: list[Customer], clock: dict) -> int:
        count = 0
        for customer in customers:
            if customer.kind != Customer.Kind.COMPANY:
                continue
            for position in range(self.rnd.randrange(1, 4)):
                gender = self.rnd.choice(["female", "male"])
                clock["now"] = customer.created_at + datetime.timedelta(hours=position + 1)
                services.contact_create(
                    actor=customer.owner,
                    customer=customer,
                    data={
                        "name": self.chinese_name(gender),
                        "title": self.rnd.choice(data.CONTACT_TITLES),
                        "phone": self.mobile(),
                        "is_primary": position == 0,
                    },
                )
                count += 1
        return count

    def later(self, customer: Customer) -> datetime.datetime | None:
        """A time after ``customer`` was created, at the latest yesterday."""
        room = DAYS_OF_HISTORY - (customer.created_at - self.start).days
        if room < 2:
            return None
        return customer.created_at + datetime.timedelta(
            days=self.rnd.randrange(1, room), minutes=self.rnd.randrange(300)
        )

    def history(self, customers: list[Customer], users: dict[str, User], clock: dict) -> int:
        """Updates after creation, so timelines have more than "created"."""
        updates = 0
        next_stage = {"lead": "prospect", "prospect": "customer", "customer": "vip"}
        for customer in customers:
            if customer.kind == Customer.Kind.COMPANY or self.rnd.random() > 0.35:
                continue
            when = self.later(customer)
            if when is None:
                continue
            clock["now"] = when
            change: dict = {}
            if customer.stage in next_stage and self.rnd.random() < 0.7:
                change["stage"] = next_stage[customer.stage]
                if change["stage"] == "vip":
                    change["custom"] = {
                        "member_level": "金卡会员",
                        "vip_since": when.date().isoformat(),
                    }
            if self.rnd.random() < 0.4:
                change["grade"] = self.rnd.choice(["A", "B", "C"])
            if customer.stage == "customer" and self.rnd.random() < 0.5:
                change["tags"] = sorted({*customer.tags.values_list("name", flat=True), "复购"})
            if not change:
                change["notes"] = self.rnd.choice(data.NOTES)
            services.customer_update(actor=customer.owner, customer=customer, data=change)
            updates += 1
            if self.rnd.random() < 0.3:
                follow_up = self.later(customer)
                if follow_up is not None and follow_up > when:
                    clock["now"] = follow_up
                    services.customer_update(
                        actor=users["service"],
                        customer=customer,
                        data={"notes": self.rnd.choice(data.SERVICE_NOTES)},
                    )
                    updates += 1
        return updates

    def consents(self, customers: list[Customer], users: dict[str, User], clock: dict) -> int:
        count = 0
        marketing = users["marketing"]
        for customer in customers:
            channels = []
            if customer.phone and self.rnd.random() < 0.55:
                channels.append("sms")
            if customer.email and self.rnd.random() < 0.6:
                channels.append("email")
            if customer.custom.get("wechat_id") and self.rnd.random() < 0.7:
                channels.append("wechat")
            for channel in channels:
                clock["now"] = customer.created_at + datetime.timedelta(minutes=5)
                services.consent_set(
                    actor=marketing,
                    customer=customer,
                    channel=channel,
                    granted=self.rnd.random() < 0.85,
                    source=self.rnd.choice(data.CONSENT_SOURCES),
                )
                count += 1
        return count


class Command(BaseCommand):
    help = "Build the demo data set (once), then print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=int, default=500, help="How many customers (default 500)."
        )
        parser.add_argument(
            "--print-logins",
            action="store_true",
            help="Only print the demo logins; build nothing.",
        )

    def handle(self, *args, customers: int, print_logins: bool, **options):
        usernames = [u[0] for u in data.DEMO_USERS]
        exists = User.objects.filter(username__in=usernames).exists()
        if print_logins or exists:
            if exists:
                self.print_logins()
            else:
                self.stdout.write("No demo users yet: run `guanxi demo` to build the demo data.")
            return
        if customers < 10:
            customers = 10
        started = timezone.now()
        builder = Builder(customers=customers, stdout=self.stdout)
        with transaction.atomic(), demo_clock() as clock:
            users = builder.users()
            clock["now"] = builder.start - datetime.timedelta(days=1)
            builder.settings(users["admin"])
            created = builder.customers(users, clock)
            contacts = builder.contacts(created, clock)
            consents = builder.consents(created, users, clock)
            updates = builder.history(created, users, clock)
            demo_sales.build(users, created, clock)  # sales pipeline
        seconds = (timezone.now() - started).total_seconds()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {len(created)} customers, {contacts} contacts, "
                f"{consents} consents, {updates} updates ({seconds:.1f} s)."
            )
        )
        self.print_logins()

    def print_logins(self):
        usernames = [u[0] for u in data.DEMO_USERS]
        users = {u.username: u for u in User.objects.filter(username__in=usernames)}
        rows = [("role", "username", "password", "team")]
        for username, role, _team, _name in data.DEMO_USERS:
            user = users.get(username)
            if user is not None:
                team = user.team.name if user.team_id else "—"
                rows.append((role, username, demo_password(username), team))
        widths = [max(_width(row[i]) for row in rows) for i in range(4)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        self.stdout.write("Demo logins (passwords as set by the demo, unless changed since):")
        self.stdout.write(line)
        for index, row in enumerate(rows):
            cells = [c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)]
            self.stdout.write("| " + " | ".join(cells) + " |")
            if index == 0:
                self.stdout.write(line)
        self.stdout.write(line)
