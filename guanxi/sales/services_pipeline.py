"""Every write to pipelines, stages, lost reasons and opportunities.

Pages, the API, the lead conversion and the demo data hand plain dicts to these services,
so a value is accepted or refused the same way wherever it comes from. Each service runs
in one transaction: the change, its audit entry and its business events commit together
or not at all.

``opportunity_create(actor, data)`` keys (all optional but ``name`` and ``customer``):
``name``, ``customer`` (id, or a Customer the caller already checked — e.g. the lead
conversion), ``pipeline`` (id; default pipeline if absent), ``stage`` (id of an open stage
of that pipeline; its first open stage if absent), ``amount``, ``currency``,
``expected_close`` (YYYY-MM-DD), ``next_step``, ``owner`` (user id or username; the actor
if absent), ``lead`` (id or Lead), ``lines`` (a list of {``product``, ``name``,
``unit_price``, ``quantity``, ``discount_percent``}). With lines, the amount is their sum.
"""

import datetime
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.models import User
from guanxi.accounts.roles import Action, can, require
from guanxi.core import audit, events
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.core.visibility import can_see
from guanxi.sales.models import (
    LostReason,
    Opportunity,
    OpportunityLine,
    Pipeline,
    Stage,
    StageChange,
)

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")
MAX_LINES = 200
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
AUDITED_FIELDS = [
    "name",
    "customer",
    "pipeline",
    "stage",
    "amount",
    "currency",
    "expected_close",
    "next_step",
    "owner",
    "team",
    "status",
    "lost_reason",
    "lost_note",
]
TEXT_LIMITS = {"name": 200, "next_step": 200}


# Helpers -----------------------------------------------------------------------------------


def _decimal(raw, *, field, errors, minimum=Decimal(0), maximum=MAX_AMOUNT, places=CENT):
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if not value.is_finite():
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if value < minimum or value > maximum:
        errors.setdefault(field, []).append(
            _("Enter a number between %(min)s and %(max)s.") % {"min": minimum, "max": maximum}
        )
        return None
    return value.quantize(places, rounding=ROUND_HALF_UP)


def _date(raw, *, field, errors):
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    try:
        return datetime.date.fromisoformat(str(raw).strip())
    except ValueError:
        errors.setdefault(field, []).append(_("Enter a date as YYYY-MM-DD."))
        return None


def _pk(raw):
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw or "").strip()
    return int(text) if text.isdigit() else None


def _user(raw) -> User | None:
    if isinstance(raw, User):
        return raw if raw.is_active else None
    qs = User.objects.filter(is_active=True)
    pk = _pk(raw)
    if pk is not None:
        return qs.filter(pk=pk).first()
    return qs.filter(username=str(raw).strip()).first()


def line_amount(unit_price: Decimal, quantity: Decimal, discount_percent: Decimal) -> Decimal:
    """price × quantity × (1 − discount %), to the cent."""
    gross = unit_price * quantity
    return (gross * (Decimal(100) - discount_percent) / Decimal(100)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def default_pipeline() -> Pipeline | None:
    qs = Pipeline.objects.filter(active=True)
    return qs.filter(is_default=True).first() or qs.first()


def first_open_stage(pipeline: Pipeline) -> Stage | None:
    return pipeline.stages.filter(kind=Stage.Kind.OPEN).order_by("position", "id").first()


def _clean_lines(raw_lines, errors) -> list[dict] | None:
    from guanxi.commerce.models import Product

    if raw_lines is None:
        return None
    if not isinstance(raw_lines, list | tuple):
        errors.setdefault("lines", []).append(_("Product lines must be a list."))
        return None
    if len(raw_lines) > MAX_LINES:
        errors.setdefault("lines", []).append(
            _("At most %(limit)d product lines.") % {"limit": MAX_LINES}
        )
        return None
    product_ids = {
        _pk(raw.get("product")) for raw in raw_lines if isinstance(raw, dict) and raw.get("product")
    }
    products = Product.objects.in_bulk([pk for pk in product_ids if pk is not None])
    cleaned = []
    for index, raw in enumerate(raw_lines):
        key = f"lines.{index}"
        if not isinstance(raw, dict):
            errors.setdefault(key, []).append(_("A product line must be an object."))
            continue
        line_errors: dict[str, list] = {}
        product = None
        if raw.get("product") not in (None, ""):
            product = products.get(_pk(raw.get("product")))
            if product is None:
                line_errors.setdefault("product", []).append(_("There is no such product."))
        name = str(raw.get("name") or "").strip() or (product.name if product else "")
        if not name:
            line_errors.setdefault("name", []).append(_("Choose a product or enter a name."))
        elif len(name) > 200:
            line_errors.setdefault("name", []).append(
                _("At most %(limit)d characters.") % {"limit": 200}
            )
        unit_price = _decimal(raw.get("unit_price"), field="unit_price", errors=line_errors)
        if unit_price is None and "unit_price" not in line_errors:
            unit_price = product.price if product else None
            if unit_price is None:
                line_errors.setdefault("unit_price", []).append(_("This field is required."))
        quantity = _decimal(
            raw.get("quantity"),
            field="quantity",
            errors=line_errors,
            minimum=CENT,
            maximum=Decimal("9999999999.99"),
        )
        if quantity is None and "quantity" not in line_errors:
            quantity = Decimal(1)
        discount = _decimal(
            raw.get("discount_percent"),
            field="discount_percent",
            errors=line_errors,
            maximum=Decimal(100),
        )
        if discount is None:
            discount = Decimal(0)
        if line_errors:
            for field, messages in line_errors.items():
                errors.setdefault(f"{key}.{field}", []).extend(messages)
            continue
        amount = line_amount(unit_price, quantity, discount)
        if amount > MAX_AMOUNT:
            errors.setdefault(key, []).append(_("The line amount is too large."))
            continue
        cleaned.append(
            {
                "product": product,
                "name": name,
                "unit_price": unit_price,
                "quantity": quantity,
                "discount_percent": discount,
                "amount": amount,
                "position": index,
            }
        )
    return cleaned


def clean_opportunity_input(
    data: dict, *, actor, instance: Opportunity | None = None
) -> tuple[dict, dict]:
    """Validate ``data`` (partial when ``instance`` is given); returns (cleaned, errors)."""
    from guanxi.customers.models import Customer
    from guanxi.sales.models import Lead

    partial = instance is not None
    cleaned: dict = {}
    errors: dict[str, list] = {}

    def fail(key, message):
        errors.setdefault(key, []).append(str(message))

    def present(key):
        return not partial or key in data

    for key, limit in TEXT_LIMITS.items():
        if not present(key):
            continue
        value = str(data.get(key) or "").strip()
        if key == "name" and not value:
            fail(key, _("This field is required."))
        elif len(value) > limit:
            fail(key, _("At most %(limit)d characters.") % {"limit": limit})
        cleaned[key] = value
    if present("customer"):
        raw = data.get("customer")
        if isinstance(raw, Customer):
            cleaned["customer"] = raw  # the caller checked it
        elif raw in (None, ""):
            fail("customer", _("This field is required."))
        else:
            customer = Customer.objects.filter(pk=_pk(raw)).first() if _pk(raw) else None
            if customer is None or not can_see(actor, customer):
                fail("customer", _("There is no such customer."))
            else:
                cleaned["customer"] = customer
    if present("currency"):
        currency = str(data.get("currency") or "CNY").strip().upper()
        if not CURRENCY_RE.match(currency):
            fail("currency", _("Use a three-letter currency code such as CNY."))
        cleaned["currency"] = currency
    if present("expected_close"):
        cleaned["expected_close"] = _date(
            data.get("expected_close"), field="expected_close", errors=errors
        )
    if present("amount"):
        amount = _decimal(data.get("amount"), field="amount", errors=errors)
        cleaned["amount"] = amount if amount is not None else Decimal(0)
    if "lines" in data:
        lines = _clean_lines(data.get("lines"), errors)
        if lines is not None:
            cleaned["lines"] = lines
    if data.get("owner") not in (None, ""):
        owner = _user(data["owner"])
        if owner is None:
            fail("owner", _("There is no active user “%(value)s”.") % {"value": data["owner"]})
        else:
            current = instance.owner_id if instance else None
            if owner.pk not in (actor.pk, current) and not can(actor, Action.ASSIGN):
                fail("owner", _("You may not give opportunities to other users."))
            cleaned["owner"] = owner
    elif not partial:
        cleaned["owner"] = actor
    if not partial:
        pipeline = None
        if data.get("pipeline") not in (None, ""):
            pipeline = Pipeline.objects.filter(pk=_pk(data["pipeline"]), active=True).first()
            if pipeline is None:
                fail("pipeline", _("There is no such pipeline."))
        else:
            pipeline = default_pipeline()
            if pipeline is None:
                fail("pipeline", _("Create a pipeline first."))
        if pipeline is not None:
            if data.get("stage") not in (None, ""):
                raw_stage = data["stage"]
                stage_pk = raw_stage.pk if isinstance(raw_stage, Stage) else _pk(raw_stage)
                stage = Stage.objects.filter(pk=stage_pk, pipeline=pipeline).first()
                if stage is None:
                    fail("stage", _("This stage is not in the pipeline."))
                elif stage.kind != Stage.Kind.OPEN:
                    fail(
                        "stage",
                        _("Create the opportunity in an open stage, then move it to won or lost."),
                    )
            else:
                stage = first_open_stage(pipeline)
                if stage is None:
                    fail("stage", _("The pipeline has no open stage."))
            cleaned["pipeline"] = pipeline
            if stage is not None:
                cleaned["stage"] = stage
        raw_lead = data.get("lead")
        if isinstance(raw_lead, Lead):
            cleaned["lead"] = raw_lead
        elif raw_lead not in (None, ""):
            lead = Lead.objects.filter(pk=_pk(raw_lead)).first() if _pk(raw_lead) else None
            if lead is None or not can_see(actor, lead):
                fail("lead", _("There is no such lead."))
            else:
                cleaned["lead"] = lead
    elif "stage" in data or "pipeline" in data:
        fail("stage", _("Move the opportunity to change its stage."))
    return cleaned, errors


def _write_lines(opportunity: Opportunity, lines: list[dict]) -> None:
    opportunity.lines.all().delete()
    OpportunityLine.objects.bulk_create(
        [OpportunityLine(opportunity=opportunity, **line) for line in lines]
    )


def _audit_state(opportunity: Opportunity) -> dict:
    state = audit.snapshot(opportunity, AUDITED_FIELDS)
    state["lines"] = (
        [
            f"{line.name} × {line.quantity} @ {line.unit_price} −{line.discount_percent}% "
            f"= {line.amount}"
            for line in opportunity.lines.all()
        ]
        if opportunity.pk
        else []
    )
    return state


def _payload(opportunity: Opportunity, **extra) -> dict:
    return {
        "pipeline": opportunity.pipeline_id,
        "stage": opportunity.stage_id,
        "status": opportunity.status,
        "amount": str(opportunity.amount),
        "currency": opportunity.currency,
        "owner": opportunity.owner_id,
        "team": opportunity.team_id,
        **extra,
    }


# Opportunities -----------------------------------------------------------------------------


def opportunity_get_for_user(user, id: int, *, for_update: bool = False) -> Opportunity:
    """One opportunity the user may see, or NotFound (never a hint that it exists)."""
    qs = Opportunity.objects.select_related("stage", "pipeline", "customer", "owner", "team")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    opportunity = qs.filter(pk=id).first()
    if opportunity is None or not can_see(user, opportunity):
        raise NotFound(_("Opportunity not found."))
    return opportunity


@transaction.atomic
def opportunity_create(actor, data: dict) -> Opportunity:
    require(actor, Action.CREATE)
    cleaned, errors = clean_opportunity_input(data, actor=actor)
    if errors:
        raise ValidationFailed(errors)
    lines = cleaned.pop("lines", None)
    now = timezone.now()
    opportunity = Opportunity(
        created_by=actor if actor.pk else None,
        status=cleaned["stage"].kind,
        reached_stage=cleaned["stage"],
        stage_entered_at=now,
        created_at=now,
        updated_at=now,
    )
    for key, value in cleaned.items():
        setattr(opportunity, key, value)
    opportunity.team_id = cleaned["owner"].team_id
    if lines:
        opportunity.amount = sum((line["amount"] for line in lines), Decimal(0))
    if opportunity.amount > MAX_AMOUNT:
        raise ValidationFailed({"amount": [_("The amount is too large.")]})
    opportunity.save()
    if lines:
        _write_lines(opportunity, lines)
    StageChange.objects.create(
        opportunity=opportunity,
        from_stage=None,
        to_stage=opportunity.stage,
        at=now,
        actor=actor if actor.pk else None,
    )
    state = _audit_state(opportunity)
    audit.record(
        actor=actor,
        action="create",
        instance=opportunity,
        changes={k: [None, v] for k, v in state.items() if v not in (None, "", [], {})},
    )
    events.emit(
        "opportunity.created",
        instance=opportunity,
        actor=actor,
        customer_id=opportunity.customer_id,
        payload=_payload(opportunity, lead=opportunity.lead_id),
    )
    return opportunity


@transaction.atomic
def opportunity_update(actor, opportunity: Opportunity, data: dict) -> Opportunity:
    """Change fields (not the stage: see ``opportunity_move``). ``lines`` replaces every
    product line; the amount then follows the lines."""
    require(actor, Action.CHANGE)
    if not can_see(actor, opportunity):
        raise NotFound(_("Opportunity not found."))
    opportunity = opportunity_get_for_user(actor, opportunity.pk, for_update=True)
    cleaned, errors = clean_opportunity_input(data, actor=actor, instance=opportunity)
    if errors:
        raise ValidationFailed(errors)
    before = _audit_state(opportunity)
    lines = cleaned.pop("lines", None)
    for key, value in cleaned.items():
        setattr(opportunity, key, value)
    if "owner" in cleaned:
        opportunity.team_id = cleaned["owner"].team_id
    if lines is not None:
        _write_lines(opportunity, lines)
        if lines:
            opportunity.amount = sum((line["amount"] for line in lines), Decimal(0))
    elif "amount" in cleaned and opportunity.lines.exists():
        opportunity.amount = sum((line.amount for line in opportunity.lines.all()), Decimal(0))
    if opportunity.amount > MAX_AMOUNT:
        raise ValidationFailed({"amount": [_("The amount is too large.")]})
    opportunity.updated_at = timezone.now()
    opportunity.save()
    changes = audit.diff(before, _audit_state(opportunity))
    if changes:
        audit.record(actor=actor, action="update", instance=opportunity, changes=changes)
        events.emit(
            "opportunity.updated",
            instance=opportunity,
            actor=actor,
            customer_id=opportunity.customer_id,
            payload=_payload(opportunity, fields=sorted(changes)),
        )
    return opportunity


@transaction.atomic
def opportunity_move(
    actor, opportunity: Opportunity, stage, lost_reason=None, note: str = ""
) -> Opportunity:
    """Put the opportunity in ``stage`` (a Stage or its id, of the same pipeline).

    Writes a StageChange with the time spent in the previous stage, copies the stage's
    kind to ``status`` and sets ``closed_at`` when it becomes won or lost (clears it when
    it reopens). A lost stage needs a lost reason (a LostReason or its id). Moving to
    the stage it is already in changes nothing."""
    require(actor, Action.CHANGE)
    if not can_see(actor, opportunity):
        raise NotFound(_("Opportunity not found."))
    opportunity = opportunity_get_for_user(actor, opportunity.pk, for_update=True)
    stage_pk = stage.pk if isinstance(stage, Stage) else _pk(stage)
    target = (
        Stage.objects.filter(pk=stage_pk, pipeline_id=opportunity.pipeline_id).first()
        if stage_pk
        else None
    )
    if target is None:
        raise ValidationFailed({"stage": [_("This stage is not in the opportunity’s pipeline.")]})
    note = str(note or "").strip()
    if len(note) > 300:
        raise ValidationFailed({"note": [_("At most %(limit)d characters.") % {"limit": 300}]})
    reason = None
    if target.kind == Stage.Kind.LOST:
        if isinstance(lost_reason, LostReason):
            reason = lost_reason if lost_reason.active else None
        elif lost_reason not in (None, ""):
            reason = LostReason.objects.filter(pk=_pk(lost_reason), active=True).first()
        if reason is None:
            raise ValidationFailed(
                {
                    "lost_reason": [
                        _("Choose why the opportunity was lost.")
                        if lost_reason in (None, "")
                        else _("There is no such lost reason.")
                    ]
                }
            )
    if target.pk == opportunity.stage_id and (
        target.kind != Stage.Kind.LOST or reason == opportunity.lost_reason
    ):
        return opportunity
    before = _audit_state(opportunity)
    previous = opportunity.stage
    now = timezone.now()
    seconds = max(0, int((now - opportunity.stage_entered_at).total_seconds()))
    opportunity.stage = target
    opportunity.status = target.kind
    opportunity.stage_entered_at = now
    opportunity.updated_at = now
    if target.kind == Stage.Kind.OPEN:
        opportunity.closed_at = None
    elif previous.kind != target.kind or opportunity.closed_at is None:
        opportunity.closed_at = now
    reached = opportunity.reached_stage
    if target.kind == Stage.Kind.OPEN and (
        reached is None
        or reached.pipeline_id != target.pipeline_id
        or target.position > reached.position
    ):
        opportunity.reached_stage = target
    if target.kind == Stage.Kind.LOST:
        opportunity.lost_reason = reason
        opportunity.lost_note = note
    else:
        opportunity.lost_reason = None
        opportunity.lost_note = ""
    opportunity.save(
        update_fields=[
            "stage",
            "status",
            "stage_entered_at",
            "updated_at",
            "closed_at",
            "lost_reason",
            "lost_note",
            "reached_stage",
        ]
    )
    StageChange.objects.create(
        opportunity=opportunity,
        from_stage=previous,
        to_stage=target,
        at=now,
        actor=actor if actor.pk else None,
        seconds_in_previous=seconds,
    )
    audit.record(
        actor=actor,
        action="update",
        instance=opportunity,
        changes=audit.diff(before, _audit_state(opportunity)),
        note=note,
    )
    payload = _payload(
        opportunity, from_stage=previous.pk, to_stage=target.pk, seconds_in_previous=seconds
    )
    events.emit(
        "opportunity.stage_changed",
        instance=opportunity,
        actor=actor,
        customer_id=opportunity.customer_id,
        payload=payload,
    )
    if target.kind != previous.kind and target.kind in (Stage.Kind.WON, Stage.Kind.LOST):
        if target.kind == Stage.Kind.LOST:
            payload = {**payload, "lost_reason": reason.pk}
        events.emit(
            f"opportunity.{target.kind}",
            instance=opportunity,
            actor=actor,
            customer_id=opportunity.customer_id,
            payload=payload,
        )
    return opportunity


# Pipelines, stages and lost reasons (settings) -----------------------------------------------


def _clean_stages(raw_stages, errors) -> list[dict]:
    if not isinstance(raw_stages, list | tuple) or not raw_stages:
        errors.setdefault("stages", []).append(_("Add the stages of the pipeline."))
        return []
    cleaned = []
    names = set()
    for index, raw in enumerate(raw_stages):
        key = f"stages.{index}"
        if not isinstance(raw, dict):
            errors.setdefault(key, []).append(_("A stage must be an object."))
            continue
        name = str(raw.get("name") or "").strip()
        if not name:
            errors.setdefault(f"{key}.name", []).append(_("This field is required."))
        elif len(name) > 100:
            errors.setdefault(f"{key}.name", []).append(
                _("At most %(limit)d characters.") % {"limit": 100}
            )
        elif name in names:
            errors.setdefault(f"{key}.name", []).append(_("Two stages have the same name."))
        names.add(name)
        kind = str(raw.get("kind") or Stage.Kind.OPEN).strip()
        if kind not in Stage.Kind.values:
            errors.setdefault(f"{key}.kind", []).append(
                _("The kind is one of: %(choices)s.") % {"choices": ", ".join(Stage.Kind.values)}
            )
        default_probability = {"won": 100, "lost": 0}.get(kind, 10)
        raw_probability = raw.get("probability")
        probability = default_probability
        if raw_probability not in (None, ""):
            try:
                probability = int(str(raw_probability).strip().rstrip("%"))
            except ValueError:
                probability = -1
            if not 0 <= probability <= 100:
                errors.setdefault(f"{key}.probability", []).append(
                    _("The win probability is a whole number from 0 to 100.")
                )
        cleaned.append(
            {
                "id": _pk(raw.get("id")) if raw.get("id") not in (None, "") else None,
                "name": name,
                "kind": kind,
                "probability": probability,
                "position": index,
            }
        )
    kinds = {stage["kind"] for stage in cleaned}
    if cleaned and not {Stage.Kind.OPEN, Stage.Kind.WON, Stage.Kind.LOST} <= kinds:
        errors.setdefault("stages", []).append(
            _("A pipeline needs at least one open, one won and one lost stage.")
        )
    return cleaned


def _pipeline_state(pipeline: Pipeline) -> dict:
    return {
        "name": pipeline.name,
        "is_default": pipeline.is_default,
        "active": pipeline.active,
        "stages": [
            f"{s.name} ({s.kind}, {s.probability}%)"
            for s in pipeline.stages.order_by("position", "id")
        ]
        if pipeline.pk
        else [],
    }


def _clean_pipeline(data, errors, *, instance=None):
    cleaned = {}
    if instance is None or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            errors.setdefault("name", []).append(_("This field is required."))
        elif len(name) > 100:
            errors.setdefault("name", []).append(
                _("At most %(limit)d characters.") % {"limit": 100}
            )
        else:
            taken = Pipeline.objects.filter(name=name)
            if instance is not None:
                taken = taken.exclude(pk=instance.pk)
            if taken.exists():
                errors.setdefault("name", []).append(_("Another pipeline has this name."))
        cleaned["name"] = name
    for key in ("is_default", "active"):
        if key in data:
            cleaned[key] = data[key] in (True, "true", "on", "1", 1, "True")
    return cleaned


def _save_stages(pipeline: Pipeline, stages: list[dict]) -> None:
    """Make the pipeline's stages exactly ``stages`` (in that order): rows with an id
    are updated, others created; stages left out are deleted — refused if an opportunity
    is still in one."""
    existing = {s.pk: s for s in pipeline.stages.all()}
    unknown = [s["id"] for s in stages if s["id"] is not None and s["id"] not in existing]
    if unknown:
        raise ValidationFailed({"stages": [_("A stage belongs to another pipeline.")]})
    kept = {s["id"] for s in stages if s["id"] is not None}
    removed = [pk for pk in existing if pk not in kept]
    if removed:
        in_use = set(
            Opportunity.objects.filter(stage_id__in=removed).values_list("stage_id", flat=True)
        ) | set(
            StageChange.objects.filter(to_stage_id__in=removed).values_list(
                "to_stage_id", flat=True
            )
        )
        if in_use:
            names = ", ".join(existing[pk].name for pk in sorted(in_use))
            raise ValidationFailed(
                {
                    "stages": [
                        _("Stages with opportunities cannot be removed: %(names)s.")
                        % {"names": names}
                    ]
                }
            )
        Stage.objects.filter(pk__in=removed).delete()
    for stage in stages:
        if stage["id"] is None:
            Stage.objects.create(
                pipeline=pipeline,
                name=stage["name"],
                kind=stage["kind"],
                probability=stage["probability"],
                position=stage["position"],
            )
        else:
            row = existing[stage["id"]]
            if row.kind != stage["kind"] and Opportunity.objects.filter(stage=row).exists():
                raise ValidationFailed(
                    {
                        "stages": [
                            _("The kind of a stage with opportunities cannot change: %(name)s.")
                            % {"name": row.name}
                        ]
                    }
                )
            row.name, row.kind = stage["name"], stage["kind"]
            row.probability, row.position = stage["probability"], stage["position"]
            row.save()


def _make_default(pipeline: Pipeline) -> None:
    Pipeline.objects.exclude(pk=pipeline.pk).filter(is_default=True).update(is_default=False)


@transaction.atomic
def pipeline_create(actor, data: dict) -> Pipeline:
    """``data``: name, is_default, active, stages = [{name, kind, probability}] in order."""
    require(actor, Action.MANAGE_SETTINGS)
    errors: dict[str, list] = {}
    cleaned = _clean_pipeline(data, errors)
    stages = _clean_stages(data.get("stages"), errors)
    if errors:
        raise ValidationFailed(errors)
    for stage in stages:
        stage["id"] = None
    position = (Pipeline.objects.aggregate(m=Max("position"))["m"] or 0) + 1
    pipeline = Pipeline.objects.create(position=position, **cleaned)
    if not Pipeline.objects.exclude(pk=pipeline.pk).filter(is_default=True).exists():
        pipeline.is_default = True
        pipeline.save(update_fields=["is_default"])
    elif pipeline.is_default:
        _make_default(pipeline)
    _save_stages(pipeline, stages)
    state = _pipeline_state(pipeline)
    audit.record(
        actor=actor,
        action="create",
        instance=pipeline,
        changes={k: [None, v] for k, v in state.items()},
    )
    events.emit("pipeline.created", instance=pipeline, actor=actor)
    return pipeline


@transaction.atomic
def pipeline_update(actor, pipeline: Pipeline, data: dict) -> Pipeline:
    """Rename, make default, (de)activate, and — when ``stages`` is given — set the
    stages in that order (with their ids to keep them; reorder = the same ids in a new
    order)."""
    require(actor, Action.MANAGE_SETTINGS)
    pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    errors: dict[str, list] = {}
    cleaned = _clean_pipeline(data, errors, instance=pipeline)
    stages = _clean_stages(data.get("stages"), errors) if "stages" in data else None
    if cleaned.get("active") is False and pipeline.is_default and cleaned.get("is_default", True):
        errors.setdefault("active", []).append(_("The default pipeline cannot be deactivated."))
    if cleaned.get("is_default") is False and pipeline.is_default:
        errors.setdefault("is_default", []).append(_("Make another pipeline the default instead."))
    if errors:
        raise ValidationFailed(errors)
    before = _pipeline_state(pipeline)
    for key, value in cleaned.items():
        setattr(pipeline, key, value)
    pipeline.save()
    if pipeline.is_default:
        _make_default(pipeline)
    if stages is not None:
        _save_stages(pipeline, stages)
    changes = audit.diff(before, _pipeline_state(pipeline))
    if changes:
        audit.record(actor=actor, action="update", instance=pipeline, changes=changes)
    return pipeline


@transaction.atomic
def stages_reorder(actor, pipeline: Pipeline, stage_ids: list) -> Pipeline:
    """Put the pipeline's stages in the order of ``stage_ids`` (all of them)."""
    require(actor, Action.MANAGE_SETTINGS)
    current = list(pipeline.stages.order_by("position", "id"))
    ids = [_pk(pk) for pk in stage_ids]
    if sorted(i for i in ids if i is not None) != sorted(s.pk for s in current) or None in ids:
        raise ValidationFailed({"stages": [_("List every stage of the pipeline once.")]})
    before = _pipeline_state(pipeline)
    by_pk = {s.pk: s for s in current}
    for position, pk in enumerate(ids):
        by_pk[pk].position = position
    Stage.objects.bulk_update(current, ["position"])
    changes = audit.diff(before, _pipeline_state(pipeline))
    if changes:
        audit.record(actor=actor, action="update", instance=pipeline, changes=changes)
    return pipeline


@transaction.atomic
def pipeline_delete(actor, pipeline: Pipeline) -> None:
    require(actor, Action.MANAGE_SETTINGS)
    if pipeline.is_default:
        raise ValidationFailed({"pipeline": [_("The default pipeline cannot be deleted.")]})
    if Opportunity.objects.filter(pipeline=pipeline).exists():
        raise ValidationFailed(
            {"pipeline": [_("A pipeline with opportunities cannot be deleted; deactivate it.")]}
        )
    audit.record(actor=actor, action="delete", instance=pipeline)
    StageChange.objects.filter(to_stage__pipeline=pipeline).delete()
    pipeline.delete()


@transaction.atomic
def lost_reason_save(actor, data: dict, instance: LostReason | None = None) -> LostReason:
    require(actor, Action.MANAGE_SETTINGS)
    errors: dict[str, list] = {}
    name = str(data.get("name") or (instance.name if instance else "")).strip()
    if not name:
        errors.setdefault("name", []).append(_("This field is required."))
    elif len(name) > 100:
        errors.setdefault("name", []).append(_("At most %(limit)d characters.") % {"limit": 100})
    else:
        taken = LostReason.objects.filter(name=name)
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            errors.setdefault("name", []).append(_("Another lost reason has this name."))
    if errors:
        raise ValidationFailed(errors)
    reason = instance or LostReason(
        position=(LostReason.objects.aggregate(m=Max("position"))["m"] or 0) + 1
    )
    before = audit.snapshot(reason, ["name", "active"]) if instance else {}
    reason.name = name
    if "active" in data:
        reason.active = data["active"] in (True, "true", "on", "1", 1, "True")
    reason.save()
    after = audit.snapshot(reason, ["name", "active"])
    audit.record(
        actor=actor,
        action="update" if instance else "create",
        instance=reason,
        changes=audit.diff(before, after) if instance else {k: [None, v] for k, v in after.items()},
    )
    return reason
