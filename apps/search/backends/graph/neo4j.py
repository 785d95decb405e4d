"""The Neo4j graph store: a projection of the relational graph for queries at scale.

Statements come from ``cypher.py`` (parameters only, domain in every key). Writes run
in managed transactions (``session.execute_write``), which the driver retries on
transient errors and deadlocks; one ``replace_version`` is one transaction, so a
version's share is swapped atomically. The driver is created lazily, once per process
(a forked worker builds its own), and closed by ``close()`` and on Celery worker
shutdown. The schema (uniqueness constraints) is created on first use, and by the
``post_migrate`` hook / ``rebuild_projections`` when Neo4j is configured.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from celery.signals import worker_process_shutdown, worker_shutdown
from neo4j import GraphDatabase, RoutingControl

from apps.search.backends.graph import cypher
from apps.search.backends.graph.base import GraphStore
from apps.search.backends.types import (
    EntityDocuments,
    GraphContribution,
    GraphEntity,
    GraphRelation,
    HealthStatus,
    Subgraph,
    entity_member,
    mention_member,
    relation_member,
)

logger = logging.getLogger(__name__)

DEGREE_CAP = 50
WRITE_BATCH = 1000
DELETE_BATCH = 5000
RECONCILE_PAGE = 5000

_open_stores: weakref.WeakSet = weakref.WeakSet()


def _batches(rows: list, size: int) -> Iterable[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def contribution_statements(
    contribution: GraphContribution, *, batch_size: int = WRITE_BATCH
) -> list[cypher.Statement]:
    """The writes projecting one version, in order; pure (unit-tested without a server)."""
    domain, version = contribution.domain_id, contribution.version_id
    statements = [
        cypher.merge_document(domain_id=domain, document_id=contribution.document_id, title=contribution.document_title)
    ]
    for rows in _batches(list(contribution.chunk_ids), batch_size):
        statements.append(
            cypher.merge_chunks(
                domain_id=domain, document_id=contribution.document_id, version_id=version, chunk_ids=rows
            )
        )
    by_type: dict[str, list[dict]] = defaultdict(list)
    for entity in contribution.entities:
        by_type[entity.type].append({"key": entity.key, "name": entity.name, "type": entity.type})
    for entity_type, rows in sorted(by_type.items()):
        for batch in _batches(rows, batch_size):
            statements.append(cypher.merge_entities(domain_id=domain, entity_type=entity_type, rows=batch))
    mention_counts = Counter((m.entity_key, m.chunk_id) for m in contribution.mentions)
    mention_rows = [{"key": key, "chunk": chunk, "count": n} for (key, chunk), n in sorted(mention_counts.items())]
    for batch in _batches(mention_rows, batch_size):
        statements.append(cypher.merge_mentions(domain_id=domain, version_id=version, rows=batch))
    by_relation: dict[str, list[dict]] = defaultdict(list)
    for rel in contribution.relations:
        by_relation[rel.type].append({"source": rel.source_key, "target": rel.target_key, "weight": float(rel.weight)})
    for relation, rows in sorted(by_relation.items()):
        for batch in _batches(rows, batch_size):
            statements.append(
                cypher.merge_relations(domain_id=domain, version_id=version, relation=relation, rows=batch)
            )
    return statements


def _remove_versions(tx, *, domain_id: int, version_ids: list[int]) -> None:
    """Inside one transaction: remove exactly what these versions contributed."""
    if not version_ids:
        return
    st = cypher.delete_version_chunks(domain_id=domain_id, version_ids=version_ids)
    record = tx.run(st.text, st.parameters).single()
    keys = set(record["keys"]) if record else set()
    documents = list(record["documents"]) if record else []
    st = cypher.remove_relation_support(domain_id=domain_id, version_ids=version_ids)
    record = tx.run(st.text, st.parameters).single()
    keys |= set(record["keys"]) if record else set()
    st = cypher.delete_version_nodes(domain_id=domain_id, version_ids=version_ids)
    tx.run(st.text, st.parameters).consume()
    if keys:
        st = cypher.delete_orphan_entities(domain_id=domain_id, keys=sorted(keys))
        tx.run(st.text, st.parameters).consume()
    if documents:
        st = cypher.delete_empty_documents(domain_id=domain_id, document_ids=documents)
        tx.run(st.text, st.parameters).consume()


def _replace(tx, statements: list[cypher.Statement], *, domain_id: int, remove: list[int]) -> None:
    _remove_versions(tx, domain_id=domain_id, version_ids=remove)
    for st in statements:
        tx.run(st.text, st.parameters).consume()


class Neo4jGraphStore(GraphStore):
    def __init__(
        self,
        alias: str = "default",
        *,
        uri: str,
        user: str = "neo4j",
        password: str | None = None,
        database: str = "neo4j",
        degree_cap: int = DEGREE_CAP,
        max_transaction_retry_time: float = 30.0,
        connection_timeout: float = 5.0,
        reconcile_page: int = RECONCILE_PAGE,
        **options,
    ):
        super().__init__(alias, **options)
        self.uri = uri
        self.user = user
        self._password = password
        self.database = database
        self.degree_cap = degree_cap
        self.reconcile_page = max(1, int(reconcile_page))
        self.driver_config = {
            "max_transaction_retry_time": max_transaction_retry_time,
            "connection_timeout": connection_timeout,
        }
        self._driver = None
        self._pid: int | None = None
        self._schema_ready = False
        self._lock = threading.Lock()
        _open_stores.add(self)

    # --- connection ---------------------------------------------------------------
    @property
    def driver(self):
        if self._driver is None or self._pid != os.getpid():
            with self._lock:
                if self._driver is None or self._pid != os.getpid():
                    # A driver inherited across fork shares sockets with the parent: build a new one.
                    self._driver = GraphDatabase.driver(
                        self.uri, auth=(self.user, self._password or ""), **self.driver_config
                    )
                    self._pid = os.getpid()
                    self._schema_ready = False
        return self._driver

    def close(self) -> None:
        with self._lock:
            if self._driver is not None and self._pid == os.getpid():
                self._driver.close()
            self._driver = None
            self._pid = None

    def _write(self, work, *args, **kwargs):
        self.ensure_schema()
        with self.driver.session(database=self.database) as session:
            return session.execute_write(work, *args, **kwargs)

    def _read(self, statement: cypher.Statement):
        self.ensure_schema()
        records, _, _ = self.driver.execute_query(
            statement.text, statement.parameters, database_=self.database, routing_=RoutingControl.READ
        )
        return records

    def ensure_schema(self) -> None:
        """Create the constraints and indexes (idempotent: IF NOT EXISTS)."""
        if self._schema_ready and self._pid == os.getpid():
            return
        driver = self.driver
        for st in cypher.SCHEMA:
            driver.execute_query(st.text, st.parameters, database_=self.database)
        self._schema_ready = True

    # --- writes -------------------------------------------------------------------
    def replace_version(self, contribution: GraphContribution, *, previous_version_ids: Sequence[int] = ()) -> None:
        # The version itself is removed first too: replaying a version is exact, never additive.
        remove = sorted({contribution.version_id, *previous_version_ids})
        self._write(_replace, contribution_statements(contribution), domain_id=contribution.domain_id, remove=remove)

    def delete_version(self, *, domain_id: int, version_id: int) -> None:
        self._write(_remove_versions, domain_id=domain_id, version_ids=[version_id])

    def delete_domain(self, *, domain_id: int) -> None:
        def delete_batch(tx, st):
            return tx.run(st.text, st.parameters).single()["deleted"]

        for label in cypher.DOMAIN_LABELS:
            st = cypher.delete_domain_batch(domain_id=domain_id, label=label, batch_size=DELETE_BATCH)
            while self._write(delete_batch, st):
                pass

    # --- reads --------------------------------------------------------------------
    def _entity(self, domain_id: int, key: str) -> GraphEntity | None:
        records = self._read(cypher.entity_lookup(domain_id=domain_id, key=key))
        if not records:
            return None
        r = records[0]
        return GraphEntity(key=r["key"], name=r["name"], type=r["type"])

    def neighbours(self, *, domain_id: int, key: str, hops: int = 1, limit: int = 50) -> Subgraph:
        start = self._entity(domain_id, key)
        if start is None:
            return Subgraph()
        nodes: dict[str, GraphEntity] = {start.key: start}
        edges: dict[tuple, GraphRelation] = {}
        frontier = [start.key]
        for _ in range(max(1, hops)):
            if not frontier or len(nodes) >= limit + 1:
                break
            next_frontier: list[str] = []
            records = self._read(cypher.neighbour_edges(domain_id=domain_id, keys=frontier, degree_cap=self.degree_cap))
            for r in records:
                other = r["key"]
                if other not in nodes and len(nodes) >= limit + 1:
                    continue
                rel_type = cypher.RELATION_VALUES.get(r["type"], r["type"].lower())
                edges[(r["source"], r["target"], rel_type)] = GraphRelation(
                    source_key=r["source"], target_key=r["target"], type=rel_type, weight=float(r["weight"])
                )
                if other not in nodes:
                    nodes[other] = GraphEntity(key=other, name=r["name"], type=r["entity_type"])
                    next_frontier.append(other)
            frontier = next_frontier
        return Subgraph(
            nodes=tuple(nodes.values()),
            edges=tuple(e for e in edges.values() if e.source_key in nodes and e.target_key in nodes),
        )

    def shortest_path(self, *, domain_id: int, source_key: str, target_key: str, max_hops: int = 6) -> Subgraph | None:
        if source_key == target_key:
            entity = self._entity(domain_id, source_key)
            return Subgraph(nodes=(entity,)) if entity else None
        records = self._read(
            cypher.shortest_path(domain_id=domain_id, source_key=source_key, target_key=target_key, max_hops=max_hops)
        )
        if not records:
            return None
        r = records[0]
        return Subgraph(
            nodes=tuple(GraphEntity(key=n["key"], name=n["name"], type=n["type"]) for n in r["nodes"]),
            edges=tuple(
                GraphRelation(
                    source_key=e["source"],
                    target_key=e["target"],
                    type=cypher.RELATION_VALUES.get(e["type"], e["type"].lower()),
                    weight=float(e["weight"]),
                )
                for e in r["edges"]
            ),
        )

    def documents_for_entities(self, *, domain_id: int, keys: Sequence[str], limit: int = 50) -> list[EntityDocuments]:
        if not keys:
            return []
        records = self._read(cypher.documents_for_entities(domain_id=domain_id, keys=list(keys), limit=limit))
        return [EntityDocuments(document_id=int(r["document_id"]), mentions=int(r["mentions"])) for r in records]

    def _pages(self, build, key: str, start):
        """Every record of a paged reconcile read, one bounded query per page."""
        after = start
        while True:
            records = self._read(build(after=after, page=self.reconcile_page))
            yield from records
            if len(records) < self.reconcile_page:
                return
            after = records[-1][key]

    def _chunks(self, domain_id: int):
        return self._pages(lambda **kw: cypher.chunk_page(domain_id=domain_id, **kw), "chunk", -(2**63))

    def counts(self, *, domain_id: int) -> dict[int, dict[str, int]]:
        entities: dict[int, set[str]] = defaultdict(set)
        mentions: Counter = Counter()
        for r in self._chunks(domain_id):
            for m in r["mentions"]:
                entities[int(r["version"])].add(m["key"])
                mentions[int(r["version"])] += int(m["count"] or 0)
        return {v: {"entities": len(keys), "mentions": mentions[v]} for v, keys in entities.items()}

    def version_members(self, *, domain_id: int) -> dict[int, set[str]]:
        """Per version: its mention pairs, the names and types of the entities it mentions, and
        the relation edges it supports with their weights (reconciliation checksums). A version
        with chunks or a Version node but nothing else is listed with no members."""
        members: dict[int, set[str]] = defaultdict(set)
        for r in self._chunks(domain_id):
            version = members[int(r["version"])]
            for m in r["mentions"]:
                version.add(mention_member(key=m["key"], chunk_id=r["chunk"]))
                version.add(entity_member(key=m["key"], name=m["name"], type=m["type"]))
        for r in self._pages(lambda **kw: cypher.version_page(domain_id=domain_id, **kw), "version", -(2**63)):
            members[int(r["version"])]
        for r in self._pages(lambda **kw: cypher.relation_page(domain_id=domain_id, **kw), "source", ""):
            for edge in r["edges"]:
                rel = cypher.RELATION_VALUES.get(edge["type"], edge["type"].lower())
                member = relation_member(source=r["source"], type=rel, target=edge["target"], weight=edge["weight"])
                for version in edge["versions"] or ():
                    members[int(version)].add(member)
        return dict(members)

    def health(self) -> HealthStatus:
        try:
            self.driver.verify_connectivity()
        except Exception as exc:  # report, never raise: health endpoints must answer
            return HealthStatus(ok=False, detail=f"neo4j unreachable at {self.uri}: {type(exc).__name__}")
        return HealthStatus(ok=True, detail=f"neo4j at {self.uri}", extra={"database": self.database})


def close_all() -> None:
    for store in list(_open_stores):
        try:
            store.close()
        except Exception:  # shutting down: log and go on
            logger.warning("closing a Neo4j driver failed", exc_info=True)


def _connect_worker_shutdown() -> None:
    worker_process_shutdown.connect(lambda **kwargs: close_all(), weak=False, dispatch_uid="heysh-neo4j-close-process")
    worker_shutdown.connect(lambda **kwargs: close_all(), weak=False, dispatch_uid="heysh-neo4j-close-worker")


_connect_worker_shutdown()
