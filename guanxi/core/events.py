"""Business events and idempotent consumers.

``emit`` writes the event row in the caller's transaction, so an event exists exactly
when the change it describes was committed. ``consume`` runs a handler once per event
per consumer: the ProcessedEvent row is written in the same transaction as the
handler's own writes, so a crash and a retry neither skip nor repeat an event.
"""

from collections.abc import Callable, Iterable

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from guanxi.core import bulk
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
# The high-water mark: every event up to it is handled (or not for this consumer), so a
# poll looks only above it and its anti-join stays small however long the history. It is
# kept as a ProcessedEvent row of the consumer "<consumer>#mark" (its event is the mark),
# moved forward only by MARK_STEP ids or more, so a busy consumer writes it now and then.
MARK_SUFFIX = "#mark"
MARK_STEP = 1000
# consumer (and names) → (candidate mark, PostgreSQL snapshot xmax when it was seen).
_candidates: dict[tuple, tuple[int, int | None]] = {}


def _marks(consumer: str) -> tuple:
    """(newest handled event id, stored mark, PostgreSQL snapshot xmin and xmax) in one
    query."""
    table = connection.ops.quote_name(ProcessedEvent._meta.db_table)
    mark_name = consumer + MARK_SUFFIX
    snapshot = (
        "pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
        "pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        if connection.vendor == "postgresql"
        else "NULL, NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX(CASE WHEN consumer = %s THEN event_id END), "
            f"MAX(CASE WHEN consumer = %s THEN event_id END), {snapshot} "
            f"FROM {table} WHERE consumer IN (%s, %s)",
            [consumer, mark_name, consumer, mark_name],
        )
        return cursor.fetchone()


def _store_mark(consumer: str, mark: int) -> None:
    name = consumer + MARK_SUFFIX
    if not ProcessedEvent.objects.filter(consumer=name).update(event_id=mark):
        ProcessedEvent.objects.create(consumer=name, event_id=mark)


def pending(consumer: str, names: Iterable[str] | None = None, *, limit: int = 500):
    """The events ``consumer`` has not handled yet, oldest first (at most ``limit``).

    Looks above the consumer's high-water mark (and at most LOOKBACK_IDS below the newest
    handled event). The mark moves forward here: a candidate (the newest handled event
    of an earlier poll) becomes the mark once every transaction that was running at that
    poll has ended (PostgreSQL; SQLite writes one transaction at a time), so an event
    that commits late with a lower id is never stepped over — and never past the first
    event still waiting."""
    names = list(names) if names is not None else None
    key = (consumer, tuple(names) if names is not None else None)
    newest, mark, xmin, xmax = _marks(consumer)
    if mark is not None and (newest is None or mark > newest):
        mark = None  # a mark from another history (a restored database): ignore it
    floor = max(0, (newest or 0) - LOOKBACK_IDS, mark or 0)
    done = ProcessedEvent.objects.filter(consumer=consumer, event_id__gt=floor).values("event_id")
    qs = BusinessEvent.objects.filter(id__gt=floor).exclude(pk__in=done).order_by("id")
    if names is not None:
        qs = qs.filter(name__in=names)
    candidate = _candidates.pop(key, None)
    if candidate is not None and (newest is None or candidate[0] > newest):
        candidate = None  # seen in another history
    ready = candidate is not None and (
        candidate[1] is None or (xmin is not None and xmin >= candidate[1])
    )
    if ready and candidate[0] - (mark or 0) >= MARK_STEP:
        # Every transaction running when the candidate was seen has ended: no event at
        # or below it can appear any more. Up to the first one still waiting, all are done.
        first = qs.values_list("id", flat=True).first()
        new_mark = candidate[0]
        if first is not None and first <= new_mark:
            new_mark = (
                ProcessedEvent.objects.filter(consumer=consumer, event_id__lt=first)
                .order_by("-event_id")
                .values_list("event_id", flat=True)
                .first()
            ) or 0
        # The candidate is a process-wide memory: after a restore (or a test's rollback)
        # its event may be gone, and a mark must point at an event that exists.
        if (
            new_mark - (mark or 0) >= MARK_STEP
            and BusinessEvent.objects.filter(pk=new_mark).exists()
        ):
            _store_mark(consumer, new_mark)
            floor = new_mark
            qs = qs.filter(id__gt=floor)
    if candidate is None or ready:
        candidate = (newest, xmax) if newest is not None else None
    if candidate is not None:
        _candidates[key] = candidate
    return qs[:limit]


def claim(consumer: str, event_ids: Iterable[int]) -> set[int]:
    """Record these events as handled by ``consumer`` in the current transaction; returns
    the ids that were not already claimed (by an earlier run or another worker)."""
    ids = sorted({int(pk) for pk in event_ids})
    if not ids:
        return set()
    table = connection.ops.quote_name(ProcessedEvent._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    claimed: set[int] = set()
    columns = ("consumer", "event_id", "processed_at")
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows, params = bulk.rows_source(
                ProcessedEvent, columns, [(consumer, pk, now) for pk in chunk]
            )
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) {rows} "
                "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id",
                params,
            )
            claimed.update(row[0] for row in cursor.fetchall())
    return claimed


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
