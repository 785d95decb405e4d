"""Graph expansion: what else is connected to what the search found.

Entities mentioned in the top chunks (the seeds) → their neighbours in GRAPH_STORES
(up to ``hops`` away) → the documents that mention those neighbours. Everything is
asked per domain, and only for domains the caller may read; the documents returned
by the store are re-checked against the database before they are used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from apps.search.backends.graph.base import GraphStore
from apps.search.backends.types import GraphRelation
from apps.search.models import Mention

SEED_LIMIT = 10  # entities taken from the top chunks
NEIGHBOUR_LIMIT = 20  # per seed
DOCUMENT_LIMIT = 50


@dataclass
class Expansion:
    # (domain id, entity key) -> number of top chunks mentioning it
    seeds: dict[tuple[int, str], int] = field(default_factory=dict)
    # (domain id, entity key) of neighbours that are not seeds
    neighbours: list[tuple[int, str]] = field(default_factory=list)
    edges: list[tuple[int, GraphRelation]] = field(default_factory=list)
    # (domain id, document id, mentions of the neighbours), best first
    documents: list[tuple[int, int, int]] = field(default_factory=list)


def expansion_seeds(*, domain_ids: Sequence[int], chunk_ids: Sequence[int], limit: int = SEED_LIMIT) -> dict[tuple[int, str], int]:
    counts: Counter = Counter()
    for domain_id, key, _chunk in (
        Mention.objects.filter(domain_id__in=list(domain_ids), chunk_id__in=list(chunk_ids), entity__merged_into__isnull=True)
        .values_list("domain_id", "entity__key", "chunk_id")
        .distinct()
    ):
        counts[(domain_id, key)] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def graph_expand(
    *, store: GraphStore, domain_ids: Sequence[int], chunk_ids: Sequence[int], hops: int, document_limit: int = DOCUMENT_LIMIT
) -> Expansion:
    allowed = set(domain_ids)
    expansion = Expansion(seeds=expansion_seeds(domain_ids=list(allowed), chunk_ids=chunk_ids))
    seen = set(expansion.seeds)
    edge_seen = set()
    for domain_id, key in expansion.seeds:
        subgraph = store.neighbours(domain_id=domain_id, key=key, hops=hops, limit=NEIGHBOUR_LIMIT)
        for node in subgraph.nodes:
            if (domain_id, node.key) not in seen:
                seen.add((domain_id, node.key))
                expansion.neighbours.append((domain_id, node.key))
        for edge in subgraph.edges:
            marker = (domain_id, edge.source_key, edge.target_key, edge.type)
            if marker not in edge_seen:
                edge_seen.add(marker)
                expansion.edges.append((domain_id, edge))
    by_domain: dict[int, list[str]] = {}
    for domain_id, key in expansion.neighbours:
        by_domain.setdefault(domain_id, []).append(key)
    found = []
    for domain_id, keys in by_domain.items():
        if domain_id not in allowed:
            continue
        for row in store.documents_for_entities(domain_id=domain_id, keys=keys, limit=document_limit):
            found.append((domain_id, row.document_id, row.mentions))
    found.sort(key=lambda r: (-r[2], r[1]))
    expansion.documents = found[:document_limit]
    return expansion
