"""Customer analyses over /api/v1/analytics: RFM, customer groups, churn, cohorts.
Thin: parse → service/selector → JSON. Reports are scoped to the customers the caller
may see; the writes (boundaries, recompute, churn rules) need the settings permission."""

import datetime

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from guanxi.accounts.roles import Action, require
from guanxi.analytics import churn, cohorts, groups, rfm, tasks_analysis
from guanxi.analytics.models_analysis import RfmSettings, SavedGroup
from guanxi.core.errors import ValidationFailed

router = Router(tags=["analytics"])


class ErrorOut(Schema):
    code: str
    message: str
    errors: dict[str, list[str]] = {}


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


# ------------------------------------------------------------------------------ RFM


class BoundsIn(Schema):
    recency: list[float] | None = Field(None, description="4 ascending days, or [] for quintiles")
    frequency: list[float] | None = None
    monetary: list[float] | None = None


def _bounds(settings: RfmSettings) -> dict:
    return {d: getattr(settings, f"{d}_bounds") for d in rfm.DIMENSIONS}


@router.get("/analytics/rfm", response={200: dict, **ERRORS}, summary="RFM segments and grid")
def rfm_overview(request):
    """Customers and revenue per segment and the 5×5 R×F grid (counts; rows R1..R5,
    columns F1..F5), of the customers the caller may see."""
    data = rfm.rfm_overview(user=request.auth)
    data["grid"] = {"rows": "r_score 1..5", "columns": "f_score 1..5", "counts": data["grid"]}
    return data


@router.post("/analytics/rfm/recompute", response={202: dict, **ERRORS})
def rfm_recompute(request):
    """Queue the recompute of every customer's scores and segment (admins)."""
    require(request.auth, Action.MANAGE_SETTINGS)
    result = tasks_analysis.rfm_recompute.enqueue()
    return Status(202, {"task_id": str(result.id), "status": str(result.status)})


@router.get("/analytics/rfm/settings", response={200: dict, **ERRORS})
def rfm_settings_get(request):
    require(request.auth, Action.VIEW)
    return _bounds(RfmSettings.load())


@router.put("/analytics/rfm/settings", response={200: dict, **ERRORS})
def rfm_settings_put(request, payload: BoundsIn):
    data = {k: v for k, v in payload.dict().items() if v is not None}
    settings = rfm.rfm_settings_update(actor=request.auth, data=data)
    return _bounds(settings)


# ------------------------------------------------------------------------------ groups


class GroupIn(Schema):
    name: str
    filters: dict = {}
    shared: bool = False


class GroupPatch(Schema):
    name: str | None = None
    filters: dict | None = None
    shared: bool | None = None


class GroupOut(Schema):
    id: int
    name: str
    filters: dict
    shared: bool
    owner: str
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_owner(obj: SavedGroup) -> str:
        return obj.owner.username


class AnalysisIn(Schema):
    filters: dict = {}
    dimensions: list[str] | None = None


def _dimensions(raw: str | None) -> list[str] | None:
    return [d for d in raw.split(",") if d] if raw else None


@router.get("/analytics/groups", response={200: list[GroupOut], **ERRORS})
def group_list(request):
    """The caller's saved groups and the shared ones."""
    return list(groups.groups_for_user(user=request.auth))


@router.post("/analytics/groups", response={201: GroupOut, **ERRORS})
def group_create(request, payload: GroupIn):
    return Status(201, groups.group_create(actor=request.auth, data=payload.dict()))


@router.post("/analytics/groups/analysis", response={200: dict, **ERRORS})
def group_analysis_adhoc(request, payload: AnalysisIn):
    """The analysis of any filter, without saving it."""
    return groups.group_analysis(
        user=request.auth, filters=payload.filters, dimensions=payload.dimensions
    )


@router.get("/analytics/groups/{group_id}", response={200: GroupOut, **ERRORS})
def group_get(request, group_id: int):
    return groups.group_get_for_user(user=request.auth, id=group_id)


@router.patch("/analytics/groups/{group_id}", response={200: GroupOut, **ERRORS})
def group_update(request, group_id: int, payload: GroupPatch):
    group = groups.group_get_for_user(user=request.auth, id=group_id)
    data = {k: v for k, v in payload.dict().items() if v is not None}
    return groups.group_update(actor=request.auth, group=group, data=data)


@router.delete("/analytics/groups/{group_id}", response={204: None, **ERRORS})
def group_delete(request, group_id: int):
    group = groups.group_get_for_user(user=request.auth, id=group_id)
    groups.group_delete(actor=request.auth, group=group)
    return Status(204, None)


@router.get("/analytics/groups/{group_id}/analysis", response={200: dict, **ERRORS})
def group_analysis(request, group_id: int, dimensions: str | None = None):
    """Region, gender, age band, source, favourite category, price band, RFM segment,
    order weekday and hour of the group beside all visible customers (``dimensions``:
    comma-separated keys to limit it)."""
    group = groups.group_get_for_user(user=request.auth, id=group_id)
    data = groups.group_analysis(
        user=request.auth, filters=group.filters, dimensions=_dimensions(dimensions)
    )
    data["group"] = {"id": group.pk, "name": group.name}
    return data


# ------------------------------------------------------------------------------ churn


def _months(value: int) -> int:
    if not 1 <= value <= 60:
        raise ValidationFailed({"months": [_("Between 1 and 60.")]})
    return value


@router.get("/analytics/churn/report", response={200: dict, **ERRORS})
def churn_report(
    request, months: int = 12, days: int | None = None, until: datetime.date | None = None
):
    """Per month: customers active at its start (a purchase in the ``days`` before; by
    default the stores' dormancy threshold), how many became inactive during it, the
    churn rate in %, and how many the rules moved to dormant/lost."""
    if days is not None and days < 1:
        raise ValidationFailed({"days": [_("At least 1.")]})
    return churn.churn_report(user=request.auth, months=_months(months), days=days, until=until)


@router.post("/analytics/churn/apply", response={202: dict, **ERRORS})
def churn_apply(request):
    """Queue the churn rules now (admins); they also run daily."""
    require(request.auth, Action.MANAGE_SETTINGS)
    result = tasks_analysis.apply_churn_rules.enqueue()
    body = {"task_id": str(result.id), "status": str(result.status)}
    if result.is_finished:
        body["result"] = result.return_value
    return Status(202, body)


# ------------------------------------------------------------------------------ cohorts


@router.get("/analytics/cohorts", response={200: dict, **ERRORS})
def cohort_matrix(request, months: int = 12, until: datetime.date | None = None):
    """Cohorts by month of first order (the last ``months``) × months since: customers
    with a purchase in month k (``counts``) and their share of the cohort in % (``rates``)."""
    return cohorts.cohort_matrix(user=request.auth, months=_months(months), until=until)
