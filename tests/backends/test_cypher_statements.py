"""Properties of every Cypher statement the Neo4j store builds (no server needed).

- user values (names, keys, titles) only ever appear in parameters, never in the text;
- every node pattern carries the domain;
- labels and relationship types come only from the fixed vocabularies.
"""

from __future__ import annotations

import re

import pytest

from apps.search.backends.graph import cypher
from apps.search.backends.graph.neo4j import contribution_statements
from apps.search.backends.types import GraphContribution, GraphEntity, GraphMention, GraphRelation
from apps.search.models import EntityType, RelationType

HOSTILE = [
    "') DETACH DELETE n //",
    "x}) MATCH (m) DETACH DELETE m //",
    "`Evil` SET n:Admin",
    "x'}) WITH 1 AS one MATCH (n) DETACH DELETE n //",
    "alice' OR 1=1 --",
]


def hostile_contribution(name: str, entity_type: str = "person", rel_type: str = "uses") -> GraphContribution:
    return GraphContribution(
        domain_id=7,
        document_id=11,
        version_id=13,
        document_title=name,
        chunk_ids=(101, 102),
        entities=(
            GraphEntity(key=name, name=name, type=entity_type),
            GraphEntity(key="acme", name="Acme", type="organization"),
        ),
        relations=(GraphRelation(source_key=name, target_key="acme", type=rel_type, weight=2.0),),
        mentions=(GraphMention(entity_key=name, chunk_id=101), GraphMention(entity_key=name, chunk_id=101)),
    )


def all_statements(name: str) -> list[cypher.Statement]:
    return [
        *cypher.SCHEMA,
        *contribution_statements(hostile_contribution(name)),
        cypher.delete_version_chunks(domain_id=7, version_ids=[13]),
        cypher.remove_relation_support(domain_id=7, version_ids=[13]),
        cypher.delete_orphan_entities(domain_id=7, keys=[name]),
        cypher.delete_empty_documents(domain_id=7, document_ids=[11]),
        *(cypher.delete_domain_batch(domain_id=7, label=label, batch_size=100) for label in cypher.DOMAIN_LABELS),
        cypher.entity_lookup(domain_id=7, key=name),
        cypher.neighbour_edges(domain_id=7, keys=[name], degree_cap=50),
        cypher.shortest_path(domain_id=7, source_key=name, target_key="acme", max_hops=4),
        cypher.documents_for_entities(domain_id=7, keys=[name], limit=10),
        cypher.delete_version_nodes(domain_id=7, version_ids=[13]),
        cypher.chunk_page(domain_id=7, after=0, page=100),
        cypher.relation_page(domain_id=7, after=name, page=100),
        cypher.version_page(domain_id=7, after=0, page=100),
    ]


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v)
    else:
        yield value


@pytest.mark.parametrize("name", HOSTILE)
def test_user_values_only_travel_as_parameters(name):
    statements = all_statements(name)
    carried = [st for st in statements if name in list(_walk(st.parameters))]
    assert carried, "the hostile name must reach the server as a parameter"
    for st in statements:
        assert name not in st.text, st.text
        assert "acme" not in st.text and "Acme" not in st.text


def test_every_node_pattern_carries_the_domain():
    for st in all_statements("alice"):
        if st in cypher.SCHEMA:
            continue
        for pattern in re.findall(r"\((\w+):(Entity|Document|Chunk|Version)(?::\w+)*\s*(\{[^}]*\})?\)", st.text):
            var, label, props = pattern
            assert props and "domain: $domain" in props, f"{label} without domain in: {st.text}"
        if "$domain" in st.text:
            assert st.parameters["domain"] == 7


def test_matches_key_on_domain_and_key_together():
    st = cypher.entity_lookup(domain_id=3, key="k")
    assert "{domain: $domain, key: $key}" in st.text
    assert st.parameters == {"domain": 3, "key": "k"}


def test_schema_is_idempotent_and_unique_on_domain_and_key():
    texts = [st.text for st in cypher.SCHEMA]
    assert all("IF NOT EXISTS" in t for t in texts)
    assert any("(e.domain, e.key) IS UNIQUE" in t for t in texts)


LABEL_OR_TYPE = re.compile(r"[(\[]\w*:([A-Za-z_|:]+)")


@pytest.mark.parametrize("entity_type", [*EntityType.values, "'; DROP", "Person"])
@pytest.mark.parametrize("rel_type", [*RelationType.values, "ADMIN]->(x) DELETE x //"])
def test_labels_and_relationship_types_come_from_the_vocabularies(entity_type, rel_type):
    allowed = {
        "Entity",
        "Document",
        "Chunk",
        "Version",
        cypher.CHUNK_OF,
        cypher.MENTIONED_IN,
        cypher.SUPPORTS,
        *cypher.ENTITY_LABELS.values(),
        *cypher.RELATION_TYPES.values(),
    }
    statements = contribution_statements(hostile_contribution("n", entity_type, rel_type))
    for st in statements:
        for group in LABEL_OR_TYPE.findall(st.text):
            for word in re.split(r"[|:]", group):
                assert word in allowed, f"{word!r} in {st.text}"
        assert "DROP" not in st.text and "ADMIN" not in st.text
    labels = " ".join(st.text for st in statements)
    assert f"SET e:{cypher.entity_label(entity_type)}" in labels
    assert f"[r:{cypher.relation_type(rel_type)}]" in labels


def test_unknown_vocabulary_falls_back_to_fixed_words():
    assert cypher.entity_label("nonsense") == "Other"
    assert cypher.relation_type("nonsense") == "RELATED_TO"
    assert set(cypher.RELATION_VALUES) == set(cypher.RELATION_TYPES.values())
    assert cypher.CHUNK_OF not in cypher.RELATION_TYPES.values()
    assert cypher.MENTIONED_IN not in cypher.RELATION_TYPES.values()


def test_path_bound_is_an_int_clamped():
    assert "*..15]" in cypher.shortest_path(domain_id=1, source_key="a", target_key="b", max_hops=10_000).text
    assert "*..1]" in cypher.shortest_path(domain_id=1, source_key="a", target_key="b", max_hops=-3).text
    with pytest.raises(ValueError):
        cypher.shortest_path(domain_id=1, source_key="a", target_key="b", max_hops="3]-(x) DELETE x //")


def test_domain_batch_label_is_whitelisted():
    with pytest.raises(ValueError):
        cypher.delete_domain_batch(domain_id=1, label="Entity) DETACH DELETE (n", batch_size=10)


def test_writes_are_batched_unwinds_and_mentions_are_aggregated():
    contribution = hostile_contribution("alice")
    many = GraphContribution(**{**contribution.__dict__, "chunk_ids": tuple(range(2500))})
    statements = contribution_statements(many, batch_size=1000)
    chunk_batches = [st for st in statements if "MERGE (c:Chunk" in st.text]
    assert [len(st.parameters["rows"]) for st in chunk_batches] == [1000, 1000, 500]
    assert all(st.text.startswith("UNWIND $rows") or "UNWIND $rows" in st.text for st in statements[1:])
    mentions = [st for st in statements if cypher.MENTIONED_IN in st.text]
    assert mentions[0].parameters["rows"] == [{"key": "alice", "chunk": 101, "count": 2}]
    assert mentions[0].parameters["version"] == 13


# --- index use: every statement the store sends, pinned ----------------------------------
KEYED = {"Entity": "key", "Document": "id", "Chunk": "id", "Version": "id"}
PAGED = {cypher.chunk_page, cypher.relation_page, cypher.version_page}


def _node_matches(text: str):
    """(label, properties) of each node pattern that starts a MATCH or MERGE (not one reached by a hop)."""
    return re.findall(r"(?:MATCH|MERGE) \(\w+:(Entity|Document|Chunk|Version)(?::\w+)*\s*\{([^}]*)\}\)", text)


def test_every_entry_match_seeks_a_composite_key_or_pages_on_it():
    """A match that starts from a node names both properties of its constraint or index
    ((domain, key) / (domain, id) / (domain, version)); the paged reconcile reads range-seek it."""
    builders = {
        cypher.delete_version_chunks: {"domain_id": 7, "version_ids": [1]},
        cypher.remove_relation_support: {"domain_id": 7, "version_ids": [1]},
        cypher.delete_version_nodes: {"domain_id": 7, "version_ids": [1]},
        cypher.delete_orphan_entities: {"domain_id": 7, "keys": ["a"]},
        cypher.delete_empty_documents: {"domain_id": 7, "document_ids": [1]},
        cypher.entity_lookup: {"domain_id": 7, "key": "a"},
        cypher.neighbour_edges: {"domain_id": 7, "keys": ["a"], "degree_cap": 5},
        cypher.documents_for_entities: {"domain_id": 7, "keys": ["a"], "limit": 5},
        cypher.shortest_path: {"domain_id": 7, "source_key": "a", "target_key": "b", "max_hops": 3},
        cypher.chunk_page: {"domain_id": 7, "after": 0, "page": 10},
        cypher.relation_page: {"domain_id": 7, "after": "", "page": 10},
        cypher.version_page: {"domain_id": 7, "after": 0, "page": 10},
    }
    statements = [(b, b(**kw)) for b, kw in builders.items()]
    statements += [(None, st) for st in contribution_statements(hostile_contribution("alice"))]
    for builder, st in statements:
        starts = _node_matches(st.text)
        assert starts, st.text
        for label, props in starts:
            assert "domain: $domain" in props, st.text
            if builder in PAGED:
                assert "> $after" in st.text  # a range seek on the key instead
                continue
            if label == "Chunk" and "version:" in props:
                continue  # the (domain, version) index
            assert f"{KEYED[label]}:" in props, f"{label} matched without its key in: {st.text}"
        assert " IN $keys" not in st.text and " IN $documents" not in st.text, "lists are unwound into seeks"


def test_paged_reconcile_reads_are_bounded_range_seeks():
    for st, key in (
        (cypher.chunk_page(domain_id=7, after=41, page=500), "c.id"),
        (cypher.relation_page(domain_id=7, after="acme", page=500), "s.key"),
        (cypher.version_page(domain_id=7, after=41, page=500), "v.id"),
    ):
        assert f"WHERE {key} > $after" in st.text
        assert re.search(rf"ORDER BY ({re.escape(key)}|version) LIMIT \$page", st.text), st.text
        assert st.parameters["page"] == 500
    assert cypher.chunk_page(domain_id=7, after=41, page=500).parameters["after"] == 41


def test_removing_a_version_seeks_its_edges_through_its_version_node():
    """Not ``any(v IN r.versions ...)`` over every edge of the domain."""
    st = cypher.remove_relation_support(domain_id=7, version_ids=[13, 14])
    assert "any(" not in st.text
    assert st.text.startswith(
        "UNWIND $versions AS version MATCH (v:Version {domain: $domain, id: version})-[:SUPPORTS]->"
    )
    assert st.parameters == {"domain": 7, "versions": [13, 14]}
    merge = next(x for x in contribution_statements(hostile_contribution("alice")) if "[r:USES]" in x.text)
    assert "MERGE (v:Version {domain: $domain, id: $version}) MERGE (v)-[:SUPPORTS]->(s)" in merge.text
    assert any("heysh_version_id" in x.text and "(v.domain, v.id) IS UNIQUE" in x.text for x in cypher.SCHEMA)
    assert "Version" in cypher.DOMAIN_LABELS  # deleting a domain removes its Version nodes too


def test_domain_delete_is_batched_per_label():
    st = cypher.delete_domain_batch(domain_id=7, label="Entity", batch_size=5000)
    assert (
        st.text == "MATCH (n:Entity {domain: $domain}) WITH n LIMIT $batch DETACH DELETE n RETURN count(*) AS deleted"
    )
    assert st.parameters == {"domain": 7, "batch": 5000}
