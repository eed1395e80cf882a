"""Prefix matches that use an index on both databases.

PostgreSQL: ``LIKE 'x%'`` served by text_pattern_ops indexes (whatever the collation).
SQLite: its LIKE is case-insensitive and skips ordinary indexes, so a prefix becomes the
range ``field >= 'x' AND field < 'x\\U0010ffff'``, which the plain B-tree index serves.
"""

from django.db import connection
from django.db.models import Q

_TOP = "\U0010ffff"


def prefix_q(field: str, text: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__startswith": text})
    return Q(**{f"{field}__gte": text, f"{field}__lt": text + _TOP})
