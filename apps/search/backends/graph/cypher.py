"""Every Cypher statement the Neo4j graph store runs, built in one place.

Rules these builders keep (tests/backends/test_cypher_statements.py checks them):

- Values only ever travel as parameters (``$domain``, ``$rows``...); no entity name,
  key, title or id is ever formatted into a statement.
- Every node match carries the domain: ``{domain: $domain, ...}`` — one domain's query
  can never reach another domain's nodes, even with a colliding key.
- Labels and relationship types, which Cypher cannot take as parameters, come only from
  the fixed dicts below, looked up by the controlled vocabularies (EntityType,
  RelationType); never from user text. Unknown values map to a fixed fallback.
- The one number that Cypher cannot parameterize (a variable-length bound) is coerced
  to ``int`` and clamped before it is written.

Layout:

    (:Entity:<TypeLabel> {domain, key, name, type})
    (:Document {domain, id, title})
    (:Chunk {domain, id, version, document})
    (:Chunk)-[:CHUNK_OF]->(:Document)
    (:Entity)-[:MENTIONED_IN {domain, version, count}]->(:Chunk)
    (:Entity)-[:<RELATION_TYPE> {domain, versions: [version ids], weight}]->(:Entity)
    (:Version {domain, id})-[:SUPPORTS]->(:Entity)   the sources of the edges it supports

A relation edge lists the versions whose evidence supports it: removing a version
removes it from every list and deletes the edges no version supports any more. The
version's ``SUPPORTS`` edges lead straight to those edges' source entities, so removing
a version seeks its edges (by the (domain, id) constraint) instead of filtering every
edge of the domain.

Every match on an entity, document, chunk or version names both properties of its
composite key or constraint ((domain, key), (domain, id), (domain, version)); a list
of values is unwound first, so each is an index seek. The reconcile reads page through
a domain by that key (``> $after ... ORDER BY ... LIMIT $page``): each query is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.search.models import EntityType, RelationType

ENTITY_LABELS: dict[str, str] = {
    EntityType.PERSON: "Person",
    EntityType.ORGANIZATION: "Organization",
    EntityType.LOCATION: "Location",
    EntityType.TECHNOLOGY: "Technology",
    EntityType.PRODUCT: "Product",
    EntityType.EVENT: "Event",
    EntityType.CONCEPT: "Concept",
    EntityType.OTHER: "Other",
}
ENTITY_LABEL_FALLBACK = "Other"

RELATION_TYPES: dict[str, str] = {
    RelationType.RELATED_TO: "RELATED_TO",
    RelationType.PART_OF: "PART_OF",
    RelationType.USES: "USES",
    RelationType.LOCATED_IN: "LOCATED_IN",
    RelationType.WORKS_FOR: "WORKS_FOR",
    RelationType.CREATED_BY: "CREATED_BY",
    RelationType.INSTANCE_OF: "INSTANCE_OF",
    RelationType.CAUSES: "CAUSES",
}
RELATION_TYPE_FALLBACK = "RELATED_TO"
RELATION_VALUES: dict[str, str] = {neo: value for value, neo in RELATION_TYPES.items()}

# Provenance edges: fixed names, distinct from every relation type.
CHUNK_OF = "CHUNK_OF"
MENTIONED_IN = "MENTIONED_IN"
SUPPORTS = "SUPPORTS"

# All relation types as one alternation, for reads that follow any relation edge.
ANY_RELATION = "|".join(RELATION_TYPES.values())
TYPE_LABELS = ":".join(ENTITY_LABELS.values())

MAX_PATH_HOPS = 15


@dataclass(frozen=True)
class Statement:
    text: str
    parameters: dict = field(default_factory=dict)


def entity_label(entity_type: str) -> str:
    return ENTITY_LABELS.get(entity_type, ENTITY_LABEL_FALLBACK)


def relation_type(value: str) -> str:
    return RELATION_TYPES.get(value, RELATION_TYPE_FALLBACK)


# --- schema -------------------------------------------------------------------------
SCHEMA: tuple[Statement, ...] = (
    Statement("CREATE CONSTRAINT heysh_entity_key IF NOT EXISTS FOR (e:Entity) REQUIRE (e.domain, e.key) IS UNIQUE"),
    Statement("CREATE CONSTRAINT heysh_document_id IF NOT EXISTS FOR (d:Document) REQUIRE (d.domain, d.id) IS UNIQUE"),
    Statement("CREATE CONSTRAINT heysh_chunk_id IF NOT EXISTS FOR (c:Chunk) REQUIRE (c.domain, c.id) IS UNIQUE"),
    Statement("CREATE CONSTRAINT heysh_version_id IF NOT EXISTS FOR (v:Version) REQUIRE (v.domain, v.id) IS UNIQUE"),
    Statement("CREATE INDEX heysh_chunk_version IF NOT EXISTS FOR (c:Chunk) ON (c.domain, c.version)"),
)


# --- writes -------------------------------------------------------------------------
def merge_document(*, domain_id: int, document_id: int, title: str) -> Statement:
    return Statement(
        "MERGE (d:Document {domain: $domain, id: $document}) SET d.title = $title",
        {"domain": domain_id, "document": document_id, "title": title},
    )


def merge_chunks(*, domain_id: int, document_id: int, version_id: int, chunk_ids: list[int]) -> Statement:
    return Statement(
        "MATCH (d:Document {domain: $domain, id: $document}) "
        "UNWIND $rows AS row "
        "MERGE (c:Chunk {domain: $domain, id: row}) "
        "SET c.version = $version, c.document = $document "
        f"MERGE (c)-[:{CHUNK_OF}]->(d)",
        {"domain": domain_id, "document": document_id, "version": version_id, "rows": list(chunk_ids)},
    )


def merge_entities(*, domain_id: int, entity_type: str, rows: list[dict]) -> Statement:
    """rows: {"key", "name", "type"}; all of one type, so the type label is one fixed word."""
    label = entity_label(entity_type)
    return Statement(
        "UNWIND $rows AS row "
        "MERGE (e:Entity {domain: $domain, key: row.key}) "
        "SET e.name = row.name, e.type = row.type "
        f"REMOVE e:{TYPE_LABELS} "
        f"SET e:{label}",
        {"domain": domain_id, "rows": rows},
    )


def merge_mentions(*, domain_id: int, version_id: int, rows: list[dict]) -> Statement:
    """rows: {"key", "chunk", "count"} — one edge per (entity, chunk), the count of mentions on it."""
    return Statement(
        "UNWIND $rows AS row "
        "MATCH (e:Entity {domain: $domain, key: row.key}) "
        "MATCH (c:Chunk {domain: $domain, id: row.chunk}) "
        f"MERGE (e)-[m:{MENTIONED_IN}]->(c) "
        "SET m.domain = $domain, m.version = $version, m.count = row.count",
        {"domain": domain_id, "version": version_id, "rows": rows},
    )


def merge_relations(*, domain_id: int, version_id: int, relation: str, rows: list[dict]) -> Statement:
    """rows: {"source", "target", "weight"}, all of one relation type; adds this version to the edge's support."""
    rel = relation_type(relation)
    return Statement(
        "UNWIND $rows AS row "
        "MERGE (s:Entity {domain: $domain, key: row.source}) "
        "ON CREATE SET s.name = row.source, s.type = $fallback_type, s:Other "
        "MERGE (t:Entity {domain: $domain, key: row.target}) "
        "ON CREATE SET t.name = row.target, t.type = $fallback_type, t:Other "
        f"MERGE (s)-[r:{rel}]->(t) "
        "ON CREATE SET r.domain = $domain, r.versions = [] "
        "SET r.weight = row.weight, "
        "r.versions = CASE WHEN $version IN r.versions THEN r.versions ELSE r.versions + $version END "
        "WITH DISTINCT s "
        "MERGE (v:Version {domain: $domain, id: $version}) "
        f"MERGE (v)-[:{SUPPORTS}]->(s)",
        {"domain": domain_id, "version": version_id, "rows": rows, "fallback_type": EntityType.OTHER.value},
    )


def delete_version_chunks(*, domain_id: int, version_ids: list[int]) -> Statement:
    """Delete the versions' chunks (and so their mention edges); return what may now be orphaned."""
    return Statement(
        "UNWIND $versions AS version "
        "MATCH (c:Chunk {domain: $domain, version: version}) "
        f"OPTIONAL MATCH (c)<-[:{MENTIONED_IN}]-(e:Entity {{domain: $domain}}) "
        "WITH collect(DISTINCT c) AS chunks, collect(DISTINCT e.key) AS keys, collect(DISTINCT c.document) AS documents "
        "FOREACH (c IN chunks | DETACH DELETE c) "
        "RETURN keys, documents",
        {"domain": domain_id, "versions": list(version_ids)},
    )


def remove_relation_support(*, domain_id: int, version_ids: list[int]) -> Statement:
    """Drop the versions from the support of the edges they support (found through their Version
    nodes, not by filtering every edge); delete the edges left unsupported and the Version nodes."""
    return Statement(
        "UNWIND $versions AS version "
        f"MATCH (v:Version {{domain: $domain, id: version}})-[:{SUPPORTS}]->(s:Entity {{domain: $domain}}) "
        f"MATCH (s)-[r:{ANY_RELATION}]->(t:Entity {{domain: $domain}}) "
        "WHERE version IN r.versions "
        "WITH DISTINCT s, r, t "
        "SET r.versions = [x IN r.versions WHERE NOT x IN $versions] "
        "WITH s, t, r, size(r.versions) = 0 AS unsupported "
        "FOREACH (ignored IN CASE WHEN unsupported THEN [1] ELSE [] END | DELETE r) "
        "RETURN collect(DISTINCT s.key) + collect(DISTINCT t.key) AS keys",
        {"domain": domain_id, "versions": list(version_ids)},
    )


def delete_version_nodes(*, domain_id: int, version_ids: list[int]) -> Statement:
    return Statement(
        "UNWIND $versions AS version MATCH (v:Version {domain: $domain, id: version}) DETACH DELETE v",
        {"domain": domain_id, "versions": list(version_ids)},
    )


def delete_orphan_entities(*, domain_id: int, keys: list[str]) -> Statement:
    return Statement(
        "UNWIND $keys AS key "
        "MATCH (e:Entity {domain: $domain, key: key}) "
        f"WHERE NOT EXISTS {{ (e)-[:{MENTIONED_IN}]->() }} AND NOT EXISTS {{ (e)-[:{ANY_RELATION}]-() }} "
        "DETACH DELETE e",
        {"domain": domain_id, "keys": list(keys)},
    )


def delete_empty_documents(*, domain_id: int, document_ids: list[int]) -> Statement:
    return Statement(
        "UNWIND $documents AS document "
        "MATCH (d:Document {domain: $domain, id: document}) "
        f"WHERE NOT EXISTS {{ ()-[:{CHUNK_OF}]->(d) }} "
        "DELETE d",
        {"domain": domain_id, "documents": list(document_ids)},
    )


DOMAIN_LABELS = ("Chunk", "Version", "Entity", "Document")


def delete_domain_batch(*, domain_id: int, label: str, batch_size: int) -> Statement:
    """One bounded batch of a domain's nodes of one label; the caller loops until 0."""
    if label not in DOMAIN_LABELS:
        raise ValueError(f"unknown node label {label!r}")
    return Statement(
        f"MATCH (n:{label} {{domain: $domain}}) WITH n LIMIT $batch DETACH DELETE n RETURN count(*) AS deleted",
        {"domain": domain_id, "batch": int(batch_size)},
    )


# --- reads --------------------------------------------------------------------------
def entity_lookup(*, domain_id: int, key: str) -> Statement:
    return Statement(
        "MATCH (e:Entity {domain: $domain, key: $key}) RETURN e.key AS key, e.name AS name, e.type AS type",
        {"domain": domain_id, "key": key},
    )


def neighbour_edges(*, domain_id: int, keys: list[str], degree_cap: int) -> Statement:
    """One hop from each frontier entity, strongest edges first, at most ``degree_cap`` per entity."""
    return Statement(
        "UNWIND $keys AS k "
        "MATCH (n:Entity {domain: $domain, key: k}) "
        f"MATCH (n)-[r:{ANY_RELATION}]-(m:Entity {{domain: $domain}}) "
        "WHERE r.weight > 0 "
        "WITH n, r, m ORDER BY r.weight DESC, m.key "
        "WITH n, collect({r: r, m: m})[..$cap] AS edges "
        "UNWIND edges AS edge "
        "WITH n, edge.r AS r, edge.m AS m "
        "RETURN startNode(r).key AS source, endNode(r).key AS target, type(r) AS type, r.weight AS weight, "
        "m.key AS key, m.name AS name, m.type AS entity_type",
        {"domain": domain_id, "keys": list(keys), "cap": int(degree_cap)},
    )


def shortest_path(*, domain_id: int, source_key: str, target_key: str, max_hops: int) -> Statement:
    hops = max(1, min(int(max_hops), MAX_PATH_HOPS))
    return Statement(
        "MATCH (s:Entity {domain: $domain, key: $source}) "
        "MATCH (t:Entity {domain: $domain, key: $target}) "
        f"MATCH p = shortestPath((s)-[:{ANY_RELATION}*..{hops}]-(t)) "
        "WHERE all(n IN nodes(p) WHERE n.domain = $domain) "
        "RETURN [n IN nodes(p) | {key: n.key, name: n.name, type: n.type}] AS nodes, "
        "[r IN relationships(p) | {source: startNode(r).key, target: endNode(r).key, type: type(r), weight: r.weight}] AS edges",
        {"domain": domain_id, "source": source_key, "target": target_key},
    )


def documents_for_entities(*, domain_id: int, keys: list[str], limit: int) -> Statement:
    return Statement(
        "UNWIND $keys AS key "
        "MATCH (e:Entity {domain: $domain, key: key}) "
        f"MATCH (e)-[m:{MENTIONED_IN}]->(c:Chunk {{domain: $domain}})-[:{CHUNK_OF}]->(d:Document {{domain: $domain}}) "
        "RETURN d.id AS document_id, sum(m.count) AS mentions "
        "ORDER BY mentions DESC, document_id LIMIT $max_rows",
        {"domain": domain_id, "keys": list(keys), "max_rows": int(limit)},
    )


def chunk_page(*, domain_id: int, after: int, page: int) -> Statement:
    """Reconcile read: the next ``page`` chunks of the domain by id (a range seek on the (domain, id)
    constraint), each with its version and the entities mentioning it (key, name, type, count)."""
    return Statement(
        "MATCH (c:Chunk {domain: $domain}) WHERE c.id > $after "
        "WITH c ORDER BY c.id LIMIT $page "
        f"OPTIONAL MATCH (c)<-[m:{MENTIONED_IN}]-(e:Entity {{domain: $domain}}) "
        "RETURN c.id AS chunk, c.version AS version, "
        "collect(CASE WHEN e IS NULL THEN NULL ELSE {key: e.key, name: e.name, type: e.type, count: m.count} END) AS mentions "
        "ORDER BY chunk",
        {"domain": domain_id, "after": int(after), "page": int(page)},
    )


def relation_page(*, domain_id: int, after: str, page: int) -> Statement:
    """Reconcile read: the next ``page`` source entities of the domain by key (a range seek on the
    (domain, key) constraint) with their outgoing relation edges (type, target, weight, versions)."""
    return Statement(
        "MATCH (s:Entity {domain: $domain}) WHERE s.key > $after "
        "WITH s ORDER BY s.key LIMIT $page "
        f"OPTIONAL MATCH (s)-[r:{ANY_RELATION}]->(t:Entity {{domain: $domain}}) "
        "RETURN s.key AS source, "
        "collect(CASE WHEN r IS NULL THEN NULL ELSE {type: type(r), target: t.key, weight: r.weight, versions: r.versions} END) AS edges "
        "ORDER BY source",
        {"domain": domain_id, "after": after, "page": int(page)},
    )


def version_page(*, domain_id: int, after: int, page: int) -> Statement:
    """Reconcile read: the next ``page`` Version nodes of the domain by id."""
    return Statement(
        "MATCH (v:Version {domain: $domain}) WHERE v.id > $after RETURN v.id AS version ORDER BY version LIMIT $page",
        {"domain": domain_id, "after": int(after), "page": int(page)},
    )
