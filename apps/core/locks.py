"""Transaction-scoped PostgreSQL advisory locks shared across apps.

``domain_graph_lock`` serializes every write of one domain's graph rows (the graph step,
document and domain deletes, the prune after a delete). Whoever also takes row locks takes
this lock first, so two of them can never wait on each other in opposite orders.
"""

from __future__ import annotations

from django.db import connection

GRAPH_LOCK_NAMESPACE = 7201  # first key of pg_advisory_xact_lock(namespace, domain_id)


def domain_graph_lock(domain_id: int) -> None:
    """Inside a transaction; released at its end. A no-op on SQLite (one writer at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [GRAPH_LOCK_NAMESPACE, int(domain_id)])
