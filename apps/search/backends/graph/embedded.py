"""The embedded graph backend: the relational tables *are* the graph.

Entities, relations and mentions are written to PostgreSQL/SQLite by the pipeline's
graph step (the source of truth), so this adapter has nothing to project: its write
methods are deliberate no-ops and its reads run breadth-first over the Relation
table. Neo4j replaces it when a deployment needs graph queries at scale.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from django.db.models import Count, Q

from apps.search.backends.graph.base import GraphStore
from apps.search.backends.types import (
    EntityDocuments,
    GraphContribution,
    GraphEntity,
    GraphRelation,
    HealthStatus,
    Subgraph,
)
from apps.search.models import Entity, Mention, Relation

# A hub entity with thousands of edges would flood a neighbourhood: cap per node.
DEGREE_CAP = 50


class EmbeddedGraphStore(GraphStore):
    needs_contributions = False

    def replace_version(self, contribution: GraphContribution, *, previous_version_ids: Sequence[int] = ()) -> None:
        """Nothing to do: the graph step already wrote the rows this store reads."""

    def delete_version(self, *, domain_id: int, version_id: int) -> None:
        """Nothing to do: deleting the version's chunks cascades to its mentions and evidence."""

    def delete_domain(self, *, domain_id: int) -> None:
        """Nothing to do: deleting the domain cascades."""

    def _entities(self, domain_id: int, ids) -> dict[int, GraphEntity]:
        return {
            e.pk: GraphEntity(key=e.key, name=e.name, type=e.type)
            for e in Entity.objects.filter(domain_id=domain_id, pk__in=list(ids)).only("key", "name", "type")
        }

    def _edges_of(self, domain_id: int, entity_ids: set[int], types: Sequence[str] = ()):
        rows = Relation.objects.filter(domain_id=domain_id, weight__gt=0).filter(
            Q(source_id__in=entity_ids) | Q(target_id__in=entity_ids)
        )
        if types:
            rows = rows.filter(type__in=list(types))
        rows = rows.order_by("-weight", "pk").values_list("source_id", "target_id", "type", "weight", "predicate")
        per_node: dict[int, int] = {}
        for source_id, target_id, rel_type, weight, predicate in rows:
            owners = [n for n in (source_id, target_id) if n in entity_ids]
            if all(per_node.get(n, 0) >= DEGREE_CAP for n in owners):
                continue
            for n in owners:
                per_node[n] = per_node.get(n, 0) + 1
            yield source_id, target_id, rel_type, weight, predicate

    def _entity_id(self, domain_id: int, key: str) -> int | None:
        return Entity.objects.filter(domain_id=domain_id, key=key).values_list("pk", flat=True).first()

    def neighbours(self, *, domain_id: int, key: str, hops: int = 1, limit: int = 50, types: Sequence[str] = ()) -> Subgraph:
        start = self._entity_id(domain_id, key)
        if start is None:
            return Subgraph()
        seen = {start}
        frontier = {start}
        edges: dict[tuple, tuple] = {}
        for _ in range(max(1, hops)):
            if not frontier or len(seen) >= limit + 1:
                break
            next_frontier: set[int] = set()
            for source_id, target_id, rel_type, weight, predicate in self._edges_of(domain_id, frontier, types):
                other = target_id if source_id in frontier else source_id
                if other not in seen and len(seen) >= limit + 1:
                    continue
                edges[(source_id, target_id, rel_type, predicate)] = (source_id, target_id, rel_type, weight, predicate)
                if other not in seen:
                    seen.add(other)
                    next_frontier.add(other)
            frontier = next_frontier
        entities = self._entities(domain_id, seen)
        return Subgraph(
            nodes=tuple(entities[i] for i in seen if i in entities),
            edges=tuple(
                GraphRelation(entities[s].key, entities[t].key, rel_type, weight, predicate)
                for s, t, rel_type, weight, predicate in edges.values()
                if s in entities and t in entities
            ),
        )

    def shortest_path(self, *, domain_id: int, source_key: str, target_key: str, max_hops: int = 6) -> Subgraph | None:
        start, goal = self._entity_id(domain_id, source_key), self._entity_id(domain_id, target_key)
        if start is None or goal is None:
            return None
        parents: dict[int, tuple | None] = {start: None}
        queue = deque([(start, 0)])
        while queue:
            node, depth = queue.popleft()
            if node == goal:
                break
            if depth >= max_hops:
                continue
            for edge in self._edges_of(domain_id, {node}):
                source_id, target_id = edge[0], edge[1]
                other = target_id if source_id == node else source_id
                if other not in parents:
                    parents[other] = (node, edge)
                    queue.append((other, depth + 1))
        if goal not in parents:
            return None
        path_nodes, path_edges, node = [goal], [], goal
        while parents[node] is not None:
            node, edge = parents[node]
            path_nodes.append(node)
            path_edges.append(edge)
        entities = self._entities(domain_id, path_nodes)
        return Subgraph(
            nodes=tuple(entities[i] for i in reversed(path_nodes)),
            edges=tuple(GraphRelation(entities[s].key, entities[t].key, r, w, p) for s, t, r, w, p in reversed(path_edges)),
        )

    def documents_for_entities(self, *, domain_id: int, keys: Sequence[str], limit: int = 50) -> list[EntityDocuments]:
        rows = (
            Mention.objects.filter(domain_id=domain_id, entity__key__in=list(keys))
            .values("chunk__document_id")
            .annotate(n=Count("pk"))
            .order_by("-n", "chunk__document_id")[:limit]
        )
        return [EntityDocuments(document_id=r["chunk__document_id"], mentions=r["n"]) for r in rows]

    def counts(self, *, domain_id: int) -> dict[int, dict[str, int]]:
        result: dict[int, dict[str, int]] = {}
        for row in (
            Mention.objects.filter(domain_id=domain_id)
            .values("version_id")
            .annotate(mentions=Count("pk"), entities=Count("entity_id", distinct=True))
        ):
            result[row["version_id"]] = {"entities": row["entities"], "mentions": row["mentions"]}
        return result

    def health(self) -> HealthStatus:
        Entity.objects.exists()
        return HealthStatus(ok=True, detail="embedded (relational tables)")
