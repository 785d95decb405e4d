"""Graph exploration for the API: traversals through GRAPH_STORES, rows from the database.

The store speaks entity keys within one domain; the API speaks entity ids. Every key
the store returns is mapped back to a row of the same domain, so a projection can
never surface another domain's entity.
"""

from __future__ import annotations

from apps.core.backends import graph_stores
from apps.documents.models import Document
from apps.search.backends.types import Subgraph
from apps.search.models import Entity
from apps.search.selectors import entities_by_key

MAX_HOPS = 3
MAX_PATH_HOPS = 6


def _subgraph_payload(*, domain_id: int, subgraph: Subgraph) -> dict:
    keys = {n.key for n in subgraph.nodes} | {e.source_key for e in subgraph.edges} | {e.target_key for e in subgraph.edges}
    rows = entities_by_key(domain_id=domain_id, keys=keys)
    nodes = [
        {"id": rows[n.key].pk, "key": n.key, "name": rows[n.key].name, "type": rows[n.key].type}
        for n in subgraph.nodes
        if n.key in rows
    ]
    edges = [
        {"source": rows[e.source_key].pk, "target": rows[e.target_key].pk, "type": e.type, "predicate": e.predicate,
         "weight": e.weight}
        for e in subgraph.edges
        if e.source_key in rows and e.target_key in rows
    ]
    return {"nodes": nodes, "edges": edges}


def entity_neighbours(*, entity: Entity, hops: int = 1, limit: int = 50, types: tuple[str, ...] = ()) -> dict:
    """The entity's neighbourhood; only along relations of ``types`` (RelationType values) when given."""
    subgraph = graph_stores["default"].neighbours(
        domain_id=entity.domain_id, key=entity.key, hops=hops, limit=limit, types=types
    )
    payload = _subgraph_payload(domain_id=entity.domain_id, subgraph=subgraph)
    payload["nodes"].sort(key=lambda n: (n["id"] != entity.pk, n["name"]))
    return {"entity": entity.pk, "hops": hops, "types": list(types), **payload}


def entity_shortest_path(*, source: Entity, target: Entity, max_hops: int = MAX_PATH_HOPS) -> dict:
    """The shortest path (ordered nodes and edges) or ``found: false``. Both entities are in the same domain."""
    subgraph = graph_stores["default"].shortest_path(
        domain_id=source.domain_id, source_key=source.key, target_key=target.key, max_hops=max_hops
    )
    if subgraph is None:
        return {"found": False, "length": None, "nodes": [], "edges": []}
    payload = _subgraph_payload(domain_id=source.domain_id, subgraph=subgraph)
    return {"found": True, "length": len(payload["edges"]), **payload}


def entity_documents(*, entity: Entity, limit: int = 50) -> list[dict]:
    rows = graph_stores["default"].documents_for_entities(domain_id=entity.domain_id, keys=[entity.key], limit=limit)
    documents = Document.objects.filter(domain_id=entity.domain_id, pk__in=[r.document_id for r in rows]).in_bulk()
    return [
        {
            "id": r.document_id, "title": documents[r.document_id].title, "status": documents[r.document_id].status,
            "mentions": r.mentions, "created_at": documents[r.document_id].created_at,
        }
        for r in rows
        if r.document_id in documents
    ]
