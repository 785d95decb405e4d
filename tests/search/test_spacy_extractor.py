"""The default extractor: spaCy's small English pipeline, typed entities, typed relations from
the dependency parse, technical terms from the rules, and typed entity keys in the graph."""

from __future__ import annotations

import pytest

from apps.core.backends import extractors
from apps.documents.models import ProcessingRun
from apps.documents.services import document_create
from apps.search.backends.extractors import dependency
from apps.search.backends.extractors.spacy import SpacyExtractor
from apps.search.models import Entity, Relation, RelationEvidence
from tests.pipeline.conftest import drain, no_broker  # noqa: F401 (fixture)

TEXT = (
    "Karl von Frisch was born in Vienna. Apple was founded by Steve Jobs in 1976. "
    "NASA launched the Hubble Space Telescope. Paris, the capital of France, is large. "
    "Tim Cook, the director of Apple, spoke. Django uses PostgreSQL."
)


@pytest.fixture(scope="module")
def extraction():
    (result,) = SpacyExtractor().extract([TEXT])
    return result


def test_offsets_point_at_clean_surfaces(extraction):
    assert len(extraction.entities) >= 10
    for entity in extraction.entities:
        assert TEXT[entity.start : entity.end] == entity.name
        assert not entity.name.startswith("the ")


@pytest.mark.parametrize(
    "name, entity_type",
    [
        ("Karl von Frisch", "person"),
        ("Vienna", "location"),
        ("Apple", "organization"),
        ("Steve Jobs", "person"),
        ("NASA", "organization"),
        ("France", "location"),
        ("Django", "technology"),
        ("PostgreSQL", "technology"),  # the model says otherwise; the technical-term rules know better
    ],
)
def test_ner_labels_map_to_entity_types(extraction, name, entity_type):
    types = {e.name: e.type for e in extraction.entities}
    assert types.get(name) == entity_type, types


def test_dates_and_numbers_are_not_entities(extraction):
    assert "1976" not in {e.name for e in extraction.entities}


@pytest.mark.parametrize(
    "source, relation, predicate, target",
    [
        ("Karl von Frisch", "born_in", "bear in", "Vienna"),
        ("Apple", "founded_by", "found", "Steve Jobs"),
        ("NASA", "acts_on", "launch", "Hubble Space Telescope"),
        ("Paris", "located_in", "capital of", "France"),
        ("Tim Cook", "works_for", "director of", "Apple"),
        ("Django", "uses", "use", "PostgreSQL"),
    ],
)
def test_typed_relations_from_the_parse(extraction, source, relation, predicate, target):
    triples = {(r.source, r.type, r.predicate, r.target) for r in extraction.relations}
    assert (source, relation, predicate, target) in triples, triples


def test_relations_keep_their_sentence_and_its_offsets(extraction):
    (born,) = [r for r in extraction.relations if r.type == "born_in"]
    assert born.evidence == "Karl von Frisch was born in Vienna."
    assert TEXT[born.start : born.end] == born.evidence
    (founded,) = [r for r in extraction.relations if r.type == "founded_by"]
    assert TEXT[founded.start : founded.end] == founded.evidence == "Apple was founded by Steve Jobs in 1976."


def test_only_sentences_with_two_entities_are_parsed(monkeypatch):
    parsed = []
    real = dependency.relations
    monkeypatch.setattr(
        dependency,
        "relations",
        lambda doc, entities, offset=0: parsed.append(doc.text) or real(doc, entities, offset=offset),
    )
    SpacyExtractor().extract(["It rained in Vienna. Nothing happened then. NASA hired Sally Ride."])
    assert parsed == ["NASA hired Sally Ride."]


def test_a_batch_gives_one_extraction_per_text():
    texts = ["Ada Lovelace lived in London.", "", "No names here at all."]
    results = SpacyExtractor().extract(texts)
    assert len(results) == 3
    assert {e.name for e in results[0].entities} == {"Ada Lovelace", "London"}
    assert results[1].entities == results[2].entities == ()


@pytest.mark.default_extractor
def test_spacy_is_the_default_extractor():
    assert isinstance(extractors["default"], SpacyExtractor)
    assert extractors["default"].health().ok


@pytest.mark.default_extractor
@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_a_person_and_a_place_of_the_same_name_stay_apart(domain, user):
    """Typed keys: "Jordan" the basketball player and "Jordan" the country are two entities;
    an untyped (rule) mention of a name with one named entity joins it."""
    text = (
        "Michael Jordan played for the Chicago Bulls. Jordan scored often. "
        "Amman is the capital of Jordan. King Abdullah lives in Jordan."
    )
    document, _ = document_create(domain=domain, user=user, text=text, title="jordan")
    drain(ProcessingRun.objects.get(document=document))
    keys = set(Entity.objects.filter(domain=domain).values_list("key", flat=True))
    assert {"location:jordan", "person:michael jordan", "organization:chicago bull"} <= keys
    located = Relation.objects.get(domain=domain, source__key="location:amman", target__key="location:jordan")
    assert located.type == "located_in" and located.predicate == "capital of"
    evidence = RelationEvidence.objects.get(relation=located)
    assert evidence.chunk.text[evidence.start : evidence.end] == evidence.snippet == "Amman is the capital of Jordan."
