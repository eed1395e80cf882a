"""The board's cards and the funnel's figures, read the fast way (ids from an index, then
the page; groups named by IN lists), equal what a direct reading of every opportunity
gives — for each role, with and without filters."""

import datetime
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from guanxi.customers import services as customer_services
from guanxi.sales import selectors_pipeline as sel
from guanxi.sales import services_pipeline as svc
from guanxi.sales.models import LostReason, Opportunity, Stage, StageChange
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 6)


@pytest.fixture
def book(alice, bob, charlie, manager, west):
    """Opportunities of alice, bob (east), charlie (west) and the east manager (one of his
    own moved to the west team): every open stage reached, some skipped, won, lost,
    reopened, a furthest stage left null (as the back-fill leaves it), expected close
    dates in and out of the filtered range and times in stage with ties."""
    admin = make_user("root", "admin")
    acme = customer_services.customer_create(actor=admin, data={"name": "ACME 杭州"})
    stages = sel.stages_of(svc.default_pipeline())
    open_stages = [s for s in stages if s.kind == Stage.Kind.OPEN]
    won = next(s for s in stages if s.kind == Stage.Kind.WON)
    lost = next(s for s in stages if s.kind == Stage.Kind.LOST)
    reason = LostReason.objects.first() or LostReason.objects.create(name="价格")
    owners = [alice, bob, charlie, manager]
    base = timezone.now() - datetime.timedelta(days=40)
    made = []
    for i in range(24):
        owner = owners[i % 4]
        opportunity = svc.opportunity_create(
            admin,
            {
                "name": f"Deal {i}",
                "customer": acme.pk,
                "owner": owner.pk,
                "amount": str(100 * (i + 1)),
                "expected_close": (TODAY + datetime.timedelta(days=10 * (i % 7))).isoformat(),
            },
        )
        path = {
            0: [],
            1: [open_stages[1]],
            2: [open_stages[2]],  # skips a stage
            3: [open_stages[1], open_stages[3], won],
            4: [open_stages[2], lost],
            5: [open_stages[3], open_stages[1]],  # back: the furthest stays
            6: [open_stages[1], lost, open_stages[0]],  # lost, then reopened
            7: [won],
        }[i % 8]
        for stage in path:
            svc.opportunity_move(admin, opportunity, stage, lost_reason=reason)
        made.append(opportunity)
    # Times in stage spread over 40 days; deals 8k and 8k + 6, both in the first stage,
    # entered it at the same time (ties are broken by id).
    for i, opportunity in enumerate(made):
        hours = 7 * (i - 6 if i % 8 == 6 else i)
        Opportunity.objects.filter(pk=opportunity.pk).update(
            stage_entered_at=base + datetime.timedelta(hours=hours)
        )
    Opportunity.objects.filter(pk=made[8].pk).update(reached_stage=None)
    Opportunity.objects.filter(pk=made[11].pk).update(team=west)  # the manager's, elsewhere
    return {"admin": admin, "stages": stages, "opportunities": made}


FILTERS = [
    sel.Filters(),
    sel.Filters(
        close_from=TODAY + datetime.timedelta(days=10), close_to=TODAY + datetime.timedelta(days=40)
    ),
    sel.Filters(close_to=TODAY + datetime.timedelta(days=20)),
]


def viewers(book, alice, charlie, manager):
    return {"admin": book["admin"], "manager": manager, "alice": alice, "charlie": charlie}


def test_column_cards_walk_the_newest_matches_page_by_page(book, alice, charlie, manager):
    pipeline = svc.default_pipeline()
    for who, user in viewers(book, alice, charlie, manager).items():
        for filters in [*FILTERS, sel.Filters(owner=alice.pk, close_from=TODAY)]:
            for stage in book["stages"]:
                expected = list(
                    sel.column_queryset(user, pipeline, stage, filters)
                    .order_by("-stage_entered_at", "-id")
                    .values_list("id", flat=True)
                )
                seen, cursor = [], None
                for _page in range(20):
                    cards, cursor = sel.column_cards(
                        user, pipeline, stage, filters, cursor=cursor, size=3
                    )
                    seen += [card.pk for card in cards]
                    if cursor is None:
                        break
                assert seen == expected, (who, filters, stage.name)


def test_column_cards_come_with_customer_and_owner_in_two_queries(book, django_assert_num_queries):
    pipeline = svc.default_pipeline()
    first = book["stages"][0]
    with django_assert_num_queries(2):  # the page's ids, then those cards joined
        cards, _cursor = sel.column_cards(book["admin"], pipeline, first, FILTERS[1])
        names = [(card.customer.name, card.owner.username, card.days_label) for card in cards]
    assert names and all(name == "ACME 杭州" for name, _owner, _days in names)


def direct_funnel(user, pipeline, filters, start, end):
    """The funnel counted opportunity by opportunity (the definition, no grouping)."""
    stages = sel.stages_of(pipeline)
    position = {s.pk: s.position for s in stages}
    open_stages = [s for s in stages if s.kind == Stage.Kind.OPEN]
    since = sel._day_start(start)
    until = sel._day_start(end + datetime.timedelta(1))
    rows = {s.pk: [0, Decimal(0)] for s in open_stages}
    won, lost, still_open, won_amount = 0, {}, 0, Decimal(0)
    for o in sel.opportunities_for(user, pipeline, filters).filter(
        created_at__gte=since, created_at__lt=until
    ):
        reach = position.get(o.reached_stage_id, open_stages[0].position)
        if o.status == Stage.Kind.WON:
            won += 1
            won_amount += o.amount
        elif o.status == Stage.Kind.LOST:
            lost[o.stage_id] = lost.get(o.stage_id, 0) + 1
        else:
            still_open += 1
        for stage in open_stages:
            if o.status == Stage.Kind.WON or reach >= stage.position:
                rows[stage.pk][0] += 1
                rows[stage.pk][1] += o.amount
    ids = set(sel.opportunities_for(user, pipeline, filters).values_list("id", flat=True))
    days = {}
    for stage in open_stages:
        stays = [
            c.seconds_in_previous
            for c in StageChange.objects.filter(from_stage=stage, at__gte=since, at__lt=until)
            if c.opportunity_id in ids and c.seconds_in_previous is not None
        ]
        days[stage.pk] = round(sum(stays) / len(stays) / 86400, 1) if stays else None
    return {
        "rows": [(s.pk, *rows[s.pk], days[s.pk]) for s in open_stages],
        "won": (won, won_amount),
        "lost": lost,
        "open": still_open,
    }


@pytest.mark.parametrize("null_reached", [True, False])
def test_funnel_equals_a_direct_count_for_every_role_and_filter(
    book, alice, charlie, manager, null_reached
):
    pipeline = svc.default_pipeline()
    if not null_reached:  # the usual case: the query for a null furthest stage is skipped
        Opportunity.objects.filter(reached_stage=None).update(reached_stage=book["stages"][1])
    today = timezone.localdate()
    StageChange.objects.filter(seconds_in_previous__isnull=False).update(seconds_in_previous=90000)
    periods = [(today - datetime.timedelta(days=89), today), (today, today)]
    for who, user in viewers(book, alice, charlie, manager).items():
        for filters in [*FILTERS, sel.Filters(owner=alice.pk)]:
            for start, end in periods:
                result = sel.funnel(user, pipeline, filters, start, end)
                expected = direct_funnel(user, pipeline, filters, start, end)
                open_rows = [r for r in result.rows if r.stage.kind == Stage.Kind.OPEN]
                got = [(r.stage.pk, r.count, r.amount, r.avg_days) for r in open_rows]
                assert got == expected["rows"], (who, filters, start)
                assert (result.won, result.won_amount) == expected["won"]
                assert {r.stage.pk: r.count for r in result.lost_stages if r.count} == (
                    expected["lost"]
                )
                assert result.open == expected["open"]
                assert result.total == result.won + result.open + sum(expected["lost"].values())


def test_funnel_groups_leave_no_opportunity_out(book):
    pipeline = svc.default_pipeline()
    cohort = Opportunity.objects.filter(pipeline=pipeline)
    plain = (
        cohort.values("status", "reached_stage_id", "stage_id")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    )
    groups = sel._funnel_groups(cohort, [s.pk for s in book["stages"]], null_reached=True)

    def key(group):
        return (group["status"], group["reached_stage_id"] or 0, group["stage_id"])

    assert sorted(groups, key=key) == sorted(plain, key=key)
    assert sum(g["n"] for g in groups) == len(book["opportunities"])
    assert any(g["reached_stage_id"] is None for g in groups)
