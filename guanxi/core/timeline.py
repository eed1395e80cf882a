"""The 360° timeline: apps register what they contribute; ``customers`` imports none of them.

A provider is ``provider(customer, user, limit) -> iterable of TimelineItem``. Apps
register their providers in ``AppConfig.ready``.
"""

import dataclasses
import datetime
import heapq
from collections.abc import Callable, Iterable

_providers: dict[str, Callable] = {}


@dataclasses.dataclass(frozen=True)
class TimelineItem:
    at: datetime.datetime
    kind: str  # a short key, used for the icon and filters: "audit", "note", "order" ...
    title: str
    body: str = ""
    url: str = ""
    actor: str = ""


def register(name: str, provider: Callable[..., Iterable[TimelineItem]]) -> None:
    _providers[name] = provider


def unregister(name: str) -> None:
    _providers.pop(name, None)


def providers() -> dict[str, Callable]:
    return dict(_providers)


def timeline_for(customer, user, *, limit: int = 50) -> list[TimelineItem]:
    """The newest ``limit`` items from every registered provider, newest first."""
    streams = [list(provider(customer, user, limit)) for provider in _providers.values()]
    merged = heapq.merge(
        *[sorted(s, key=lambda i: i.at, reverse=True) for s in streams],
        key=lambda i: i.at,
        reverse=True,
    )
    return list(merged)[:limit]
