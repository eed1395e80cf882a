"""Business events and idempotent consumers.

``emit`` writes the event row in the caller's transaction, so an event exists exactly
when the change it describes was committed. ``consume`` runs a handler once per event
per consumer: the ProcessedEvent row is written in the same transaction as the
handler's own writes, so a crash and a retry neither skip nor repeat an event.
"""

from collections.abc import Callable, Iterable

from django.db import IntegrityError, models, transaction

from guanxi.core.models import BusinessEvent, ProcessedEvent


def emit(
    name: str,
    *,
    instance: models.Model | None = None,
    actor=None,
    customer_id: int | None = None,
    payload: dict | None = None,
) -> BusinessEvent:
    return BusinessEvent.objects.create(
        name=name,
        actor=actor if getattr(actor, "pk", None) else None,
        model=instance._meta.label_lower if instance is not None else "",
        object_id=instance.pk if instance is not None else None,
        customer_id=customer_id,
        payload=payload or {},
    )


# How far below the newest handled event an event may still be waiting: events commit in
# roughly, not exactly, id order (a long transaction may commit an older id later), and a
# handler that failed is retried. Looking only this far back keeps the anti-join small
# when the event table holds millions of rows.
LOOKBACK_IDS = 100_000


def pending(consumer: str, names: Iterable[str] | None = None, *, limit: int = 500):
    newest = (
        ProcessedEvent.objects.filter(consumer=consumer)
        .order_by("-event_id")
        .values_list("event_id", flat=True)
        .first()
    )
    floor = max(0, (newest or 0) - LOOKBACK_IDS)
    done = ProcessedEvent.objects.filter(consumer=consumer, event_id__gt=floor).values("event_id")
    qs = BusinessEvent.objects.filter(id__gt=floor).exclude(pk__in=done).order_by("id")
    if names is not None:
        qs = qs.filter(name__in=list(names))
    return qs[:limit]


def consume(
    consumer: str,
    handler: Callable[[BusinessEvent], None],
    names: Iterable[str] | None = None,
    *,
    limit: int = 500,
) -> int:
    """Hand each not-yet-processed event to ``handler``; returns how many were handled."""
    handled = 0
    for event in pending(consumer, names, limit=limit):
        try:
            with transaction.atomic():
                ProcessedEvent.objects.create(consumer=consumer, event=event)
                handler(event)
        except IntegrityError:
            # Another worker claimed this event first: it is theirs.
            continue
        handled += 1
    return handled
