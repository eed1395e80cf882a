"""Pipelines, lost reasons and opportunities over /api/v1: parse → service → schema."""

import datetime
from decimal import Decimal

from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from guanxi.accounts.roles import Action, require
from guanxi.customers.api import ERRORS, InputSchema
from guanxi.sales import selectors_pipeline as selectors
from guanxi.sales import services_pipeline as services
from guanxi.sales.models import LostReason, Pipeline

router = Router(tags=["sales"])


class StageOut(Schema):
    id: int
    name: str
    position: int
    probability: int
    kind: str


class PipelineOut(Schema):
    id: int
    name: str
    position: int
    is_default: bool
    active: bool
    stages: list[StageOut]

    @staticmethod
    def resolve_stages(obj):
        return list(obj.stages.order_by("position", "id"))


class StageIn(InputSchema):
    id: int | None = None
    name: str | None = None
    kind: str | None = None
    probability: int | str | None = None


class PipelineIn(InputSchema):
    name: str | None = None
    is_default: bool | None = None
    active: bool | None = None
    stages: list[StageIn] | None = None


class ReorderIn(InputSchema):
    stage_ids: list[int]


class LostReasonOut(Schema):
    id: int
    name: str
    position: int
    active: bool


class LostReasonIn(InputSchema):
    name: str | None = None
    active: bool | None = None


class LineOut(Schema):
    id: int
    product_id: int | None
    name: str
    unit_price: Decimal
    quantity: Decimal
    discount_percent: Decimal
    amount: Decimal


class LineIn(Schema):
    product: int | None = None
    name: str | None = None
    unit_price: Decimal | str | None = None
    quantity: Decimal | str | None = None
    discount_percent: Decimal | str | None = None


class OpportunityOut(Schema):
    id: int
    name: str
    customer_id: int
    pipeline_id: int
    stage_id: int
    status: str
    amount: Decimal
    currency: str
    expected_close: datetime.date | None
    next_step: str
    owner_id: int | None
    team_id: int | None
    lead_id: int | None
    lost_reason_id: int | None
    lost_note: str
    stage_entered_at: datetime.datetime
    closed_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class OpportunityDetailOut(OpportunityOut):
    lines: list[LineOut]

    @staticmethod
    def resolve_lines(obj):
        return list(obj.lines.all())


class OpportunityPage(Schema):
    items: list[OpportunityOut]
    next_cursor: str | None


class OpportunityIn(InputSchema):
    name: str | None = None
    customer: int | None = None
    pipeline: int | None = None
    stage: int | None = None
    amount: Decimal | str | None = None
    currency: str | None = None
    expected_close: str | None = None
    next_step: str | None = None
    owner: int | str | None = None
    lead: int | None = None
    lines: list[LineIn] | None = None


class MoveIn(InputSchema):
    stage: int
    lost_reason: int | None = None
    note: str = ""


class StageChangeOut(Schema):
    at: datetime.datetime
    from_stage_id: int | None
    to_stage_id: int
    actor: str | None
    seconds_in_previous: int | None
    seconds_in_stage: int


class CardOut(Schema):
    id: int
    name: str
    customer_id: int
    customer_name: str
    owner_id: int | None
    amount: Decimal
    currency: str
    expected_close: datetime.date | None
    stage_entered_at: datetime.datetime

    @staticmethod
    def resolve_customer_name(obj):
        return obj.customer.name


class CardPage(Schema):
    items: list[CardOut]
    next_cursor: str | None


class ColumnOut(Schema):
    stage: StageOut
    count: int
    amount: Decimal
    weighted_amount: Decimal
    cards: list[CardOut]
    next_cursor: str | None


class BoardOut(Schema):
    pipeline_id: int
    columns: list[ColumnOut]


class FunnelRowOut(Schema):
    stage: StageOut
    count: int
    amount: Decimal
    conversion_to_next_pct: float | None
    avg_days_in_stage: float | None


class FunnelOut(Schema):
    pipeline_id: int
    start: datetime.date
    end: datetime.date
    total: int
    open: int
    won: int
    lost: int
    win_rate_pct: float | None
    rows: list[FunnelRowOut]


class BoardFilters(Schema):
    owner: int | None = None
    team: int | None = None
    close_from: datetime.date | None = None
    close_to: datetime.date | None = None
    q: str | None = None


class ColumnFilters(BoardFilters):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)


class FunnelFilters(BoardFilters):
    start: datetime.date | None = None
    end: datetime.date | None = None


class OpportunityFilters(BoardFilters):
    pipeline: int | None = None
    stage: int | None = None
    status: str | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


def _payload(data: Schema) -> dict:
    return data.dict(exclude_unset=True)


def _filters(data: Schema):
    return selectors.parse_filters(data.dict(exclude_none=True))


def _pipeline(pipeline_id: int) -> Pipeline:
    return get_object_or_404(Pipeline, pk=pipeline_id)


def _column(col) -> dict:
    return {
        "stage": col.stage,
        "count": col.count,
        "amount": col.amount,
        "weighted_amount": col.weighted,
        "cards": col.cards,
        "next_cursor": col.next_cursor,
    }


# Pipelines -----------------------------------------------------------------------------


@router.get("/pipelines", response={200: list[PipelineOut], **ERRORS}, summary="List pipelines")
def list_pipelines(request, include_inactive: bool = False):
    require(request.user, Action.VIEW)
    qs = Pipeline.objects.prefetch_related("stages").order_by("position", "id")
    if not include_inactive:
        qs = qs.filter(active=True)
    return list(qs)


@router.post("/pipelines", response={201: PipelineOut, **ERRORS})
def create_pipeline(request, data: PipelineIn):
    return Status(201, services.pipeline_create(request.user, _payload(data)))


@router.get("/pipelines/{pipeline_id}", response={200: PipelineOut, **ERRORS})
def get_pipeline(request, pipeline_id: int):
    require(request.user, Action.VIEW)
    return _pipeline(pipeline_id)


@router.patch("/pipelines/{pipeline_id}", response={200: PipelineOut, **ERRORS})
def update_pipeline(request, pipeline_id: int, data: PipelineIn):
    require(request.user, Action.MANAGE_SETTINGS)
    return services.pipeline_update(request.user, _pipeline(pipeline_id), _payload(data))


@router.delete("/pipelines/{pipeline_id}", response={204: None, **ERRORS})
def delete_pipeline(request, pipeline_id: int):
    require(request.user, Action.MANAGE_SETTINGS)
    services.pipeline_delete(request.user, _pipeline(pipeline_id))
    return Status(204, None)


@router.post("/pipelines/{pipeline_id}/stages/reorder", response={200: PipelineOut, **ERRORS})
def reorder_stages(request, pipeline_id: int, data: ReorderIn):
    require(request.user, Action.MANAGE_SETTINGS)
    return services.stages_reorder(request.user, _pipeline(pipeline_id), data.stage_ids)


@router.get("/pipelines/{pipeline_id}/board", response={200: BoardOut, **ERRORS})
def pipeline_board(request, pipeline_id: int, filters: Query[BoardFilters]):
    """Columns with their totals (open opportunities; won and lost ones closed in the
    last 30 days) and the first 20 cards; page a column with
    ``/pipelines/{id}/board/{stage_id}?cursor=``."""
    require(request.user, Action.VIEW)
    pipeline = _pipeline(pipeline_id)
    columns = selectors.board(request.user, pipeline, _filters(filters))
    return {"pipeline_id": pipeline.pk, "columns": [_column(c) for c in columns]}


@router.get(
    "/pipelines/{pipeline_id}/board/{stage_id}",
    response={200: CardPage, **ERRORS},
    summary="More cards of a board column",
)
def pipeline_board_column(request, pipeline_id: int, stage_id: int, filters: Query[ColumnFilters]):
    require(request.user, Action.VIEW)
    pipeline = _pipeline(pipeline_id)
    stage = get_object_or_404(pipeline.stages, pk=stage_id)
    rows, next_cursor = selectors.column_cards(
        request.user,
        pipeline,
        stage,
        _filters(BoardFilters(**filters.dict(include=set(BoardFilters.model_fields)))),
        cursor=filters.cursor,
        size=filters.limit,
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/pipelines/{pipeline_id}/funnel", response={200: FunnelOut, **ERRORS})
def pipeline_funnel(request, pipeline_id: int, filters: Query[FunnelFilters]):
    """Opportunities created from ``start`` to ``end`` (default: the last 90 days)."""
    require(request.user, Action.VIEW)
    pipeline = _pipeline(pipeline_id)
    params = filters.dict(exclude_none=True)
    start, end = selectors.funnel_period(params)
    result = selectors.funnel(request.user, pipeline, selectors.parse_filters(params), start, end)
    return {
        "pipeline_id": pipeline.pk,
        "start": result.start,
        "end": result.end,
        "total": result.total,
        "open": result.open,
        "won": result.won,
        "lost": result.lost,
        "win_rate_pct": result.win_rate,
        "rows": [
            {
                "stage": row.stage,
                "count": row.count,
                "amount": row.amount,
                "conversion_to_next_pct": row.conversion,
                "avg_days_in_stage": row.avg_days,
            }
            for row in result.rows
        ],
    }


# Lost reasons --------------------------------------------------------------------------


@router.get("/lost-reasons", response={200: list[LostReasonOut], **ERRORS})
def list_lost_reasons(request):
    require(request.user, Action.VIEW)
    return list(LostReason.objects.all())


@router.post("/lost-reasons", response={201: LostReasonOut, **ERRORS})
def create_lost_reason(request, data: LostReasonIn):
    return Status(201, services.lost_reason_save(request.user, _payload(data)))


@router.patch("/lost-reasons/{reason_id}", response={200: LostReasonOut, **ERRORS})
def update_lost_reason(request, reason_id: int, data: LostReasonIn):
    require(request.user, Action.MANAGE_SETTINGS)
    reason = get_object_or_404(LostReason, pk=reason_id)
    return services.lost_reason_save(request.user, _payload(data), instance=reason)


# Opportunities -------------------------------------------------------------------------


@router.get("/opportunities", response={200: OpportunityPage, **ERRORS})
def list_opportunities(request, filters: Query[OpportunityFilters]):
    """Newest first, keyset-paginated: pass ``next_cursor`` back as ``cursor``."""
    require(request.user, Action.VIEW)
    pipeline = _pipeline(filters.pipeline) if filters.pipeline else None
    rows, next_cursor = selectors.opportunity_list(
        request.user,
        pipeline,
        _filters(BoardFilters(**filters.dict(include=set(BoardFilters.model_fields)))),
        stage=filters.stage,
        status=filters.status,
        cursor=filters.cursor,
        size=filters.limit,
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/opportunities", response={201: OpportunityDetailOut, **ERRORS})
def create_opportunity(request, data: OpportunityIn):
    return Status(201, services.opportunity_create(request.user, _payload(data)))


@router.get("/opportunities/{opportunity_id}", response={200: OpportunityDetailOut, **ERRORS})
def get_opportunity(request, opportunity_id: int):
    require(request.user, Action.VIEW)
    return services.opportunity_get_for_user(request.user, opportunity_id)


@router.patch("/opportunities/{opportunity_id}", response={200: OpportunityDetailOut, **ERRORS})
def update_opportunity(request, opportunity_id: int, data: OpportunityIn):
    require(request.user, Action.CHANGE)
    opportunity = services.opportunity_get_for_user(request.user, opportunity_id)
    return services.opportunity_update(request.user, opportunity, _payload(data))


@router.post("/opportunities/{opportunity_id}/move", response={200: OpportunityDetailOut, **ERRORS})
def move_opportunity(request, opportunity_id: int, data: MoveIn):
    """Move to another stage of its pipeline; a lost stage needs ``lost_reason``."""
    require(request.user, Action.CHANGE)
    opportunity = services.opportunity_get_for_user(request.user, opportunity_id)
    return services.opportunity_move(
        request.user, opportunity, data.stage, lost_reason=data.lost_reason, note=data.note
    )


@router.get(
    "/opportunities/{opportunity_id}/stage-history",
    response={200: list[StageChangeOut], **ERRORS},
)
def opportunity_stage_history(request, opportunity_id: int):
    require(request.user, Action.VIEW)
    opportunity = services.opportunity_get_for_user(request.user, opportunity_id)
    return [
        {
            "at": item["change"].at,
            "from_stage_id": item["change"].from_stage_id,
            "to_stage_id": item["change"].to_stage_id,
            "actor": item["change"].actor.username if item["change"].actor else None,
            "seconds_in_previous": item["change"].seconds_in_previous,
            "seconds_in_stage": item["seconds"],
        }
        for item in selectors.stage_history(opportunity)
    ]
