"""Duplicate customers over /api/v1: candidate pairs, merge, "not duplicates"."""

from ninja import Field, Query, Router, Schema, Status

from guanxi.customers import dedup, services
from guanxi.customers.api import ERRORS, CustomerDetailOut

router = Router(tags=["duplicates"])


class DuplicateCustomerOut(Schema):
    id: int
    name: str
    phone: str
    email: str
    owner_id: int | None
    owner: str | None

    @staticmethod
    def resolve_owner(obj):
        return str(obj.owner) if obj.owner_id else None


class DuplicatePairOut(Schema):
    first: DuplicateCustomerOut
    second: DuplicateCustomerOut
    reasons: list[str]
    reason_labels: list[str]
    score: int


class MergeIn(Schema):
    survivor_id: int
    other_ids: list[int] = Field(..., min_length=1, max_length=20)
    # field → id of the record whose value to keep, e.g. {"phone": 12, "custom.level": 14}
    fields: dict[str, int] = {}


class DismissIn(Schema):
    first_id: int
    second_id: int


@router.get(
    "/customers/duplicates",
    response={200: list[DuplicatePairOut], **ERRORS},
    summary="List candidate duplicate pairs",
)
def list_duplicates(request, limit: int = Query(100, ge=1, le=500)):
    """Pairs among the customers you may see with the same phone, e-mail or name
    (pinyin), likeliest first. Pairs marked "not duplicates" are left out."""
    services.require_view(request.user)
    return dedup.duplicate_pairs(user=request.user, limit=limit)


@router.post("/customers/merge", response={200: CustomerDetailOut, **ERRORS})
def merge_customers(request, data: MergeIn):
    """Merge ``other_ids`` into ``survivor_id``; the others are deleted and everything
    that pointed at them now points at the survivor."""
    records = dedup.merge_candidates(user=request.user, ids=[data.survivor_id, *data.other_ids])
    by_id = {c.pk: c for c in records}
    survivor = dedup.customer_merge(
        actor=request.user,
        survivor=by_id[data.survivor_id],
        others=[by_id[pk] for pk in data.other_ids],
        field_choices=data.fields,
    )
    return services.customer_get_for_user(user=request.user, id=survivor.pk)


@router.post("/customers/duplicates/dismiss", response={204: None, **ERRORS})
def dismiss_duplicate(request, data: DismissIn):
    first = services.customer_get_for_user(user=request.user, id=data.first_id)
    second = services.customer_get_for_user(user=request.user, id=data.second_id)
    dedup.duplicate_dismiss(actor=request.user, first=first, second=second)
    return Status(204, None)
