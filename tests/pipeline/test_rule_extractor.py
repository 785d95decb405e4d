"""The offline rule extractor: entities with types by cue, offsets, relations by verb pattern and co-occurrence."""

from __future__ import annotations

import pytest

from apps.search.backends.extractors.rules import RuleExtractor, sentences

TEXT = (
    "Django uses PostgreSQL. Dr. Marie Curie worked at the University of Paris. "
    "Acme Inc. is based in Berlin. Celery is part of the Python ecosystem. "
    "NASA announced the Apollo Conference. Weaviate was developed by SeMI Technologies."
)


@pytest.fixture(scope="module")
def extraction():
    (result,) = RuleExtractor().extract([TEXT])
    return result


def test_offsets_point_at_the_surface(extraction):
    assert extraction.entities
    for entity in extraction.entities:
        assert TEXT[entity.start : entity.end] == entity.name


@pytest.mark.parametrize(
    "name, entity_type",
    [
        ("Django", "technology"),
        ("PostgreSQL", "technology"),
        ("Marie Curie", "person"),
        ("University of Paris", "organization"),
        ("Acme Inc.", "organization"),
        ("Berlin", "location"),
        ("NASA", "organization"),
        ("Apollo Conference", "event"),
        ("SeMI Technologies", "organization"),
    ],
)
def test_entity_types_by_cue(extraction, name, entity_type):
    types = {e.name: e.type for e in extraction.entities}
    assert types.get(name) == entity_type, types


@pytest.mark.parametrize(
    "source, relation, target",
    [
        ("Django", "uses", "PostgreSQL"),
        ("Marie Curie", "works_for", "University of Paris"),
        ("Acme Inc.", "located_in", "Berlin"),
        ("Celery", "part_of", "Python"),
        ("Weaviate", "created_by", "SeMI Technologies"),
    ],
)
def test_verb_patterns(extraction, source, relation, target):
    assert (source, target, relation) in {(r.source, r.target, r.type) for r in extraction.relations}


def test_cooccurrence_is_related_to_within_a_sentence_only():
    (result,) = RuleExtractor().extract(["Redis and Kafka appear together here. Neo4j is elsewhere."])
    pairs = {(r.source, r.target, r.type) for r in result.relations}
    assert ("Kafka", "Redis", "related_to") in pairs
    assert not any("Neo4j" in (r.source, r.target) for r in result.relations)


def test_tech_tokens_and_sentence_starts():
    (result,) = RuleExtractor().extract(["The graph lives in Neo4j and GraphQL serves it. However nothing else matters."])
    names = {e.name for e in result.entities}
    assert {"Neo4j", "GraphQL"} <= names
    assert not names & {"The", "However"}


def test_lowercase_text_and_empty_input_give_no_false_entities():
    assert RuleExtractor().extract(["", "an experimental study of a wing in a propeller slipstream ."]) == [
        RuleExtractor().extract([""])[0]
    ] * 2


def test_titles_do_not_split_sentences():
    text = "Dr. Smith met Prof. Jones. Then they left."
    assert [text[s:e].strip() for s, e in sentences(text)] == ["Dr. Smith met Prof. Jones.", "Then they left."]


@pytest.mark.django_db
@pytest.mark.parametrize("extractor_batch, calls", [(2, 3), (RuleExtractor.batch_size, 1)])
def test_the_cache_is_filled_one_extractor_call_per_batch_size(extractor_batch, calls):
    from apps.search.extraction import extractions_cached
    from apps.search.models import ExtractionCache

    seen = []

    class Counting(RuleExtractor):
        batch_size = extractor_batch

        def extract(self, texts):
            seen.append(len(texts))
            return super().extract(texts)

    texts = [f"Neo4j stores graph number {i}." for i in range(5)]
    found = extractions_cached(chunks=[(f"h{i}", t) for i, t in enumerate(texts)], extractor=Counting())
    assert len(seen) == calls and sum(seen) == 5
    assert set(found) == {f"h{i}" for i in range(5)} and ExtractionCache.objects.count() == 5
