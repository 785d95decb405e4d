"""The default extractor: spaCy's small English pipeline, typed entities, typed relations from
the dependency parse, technical terms from the rules, and typed entity keys in the graph."""

from __future__ import annotations

import json
from pathlib import Path

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


CASELESS_SAMPLE = Path(__file__).parent / "data" / "cranfield_caseless_entities.jsonl"


def test_a_text_without_capitals_skips_the_model(monkeypatch):
    extractor = SpacyExtractor()
    nlp = extractor.nlp
    seen = []
    real_pipe = type(nlp).pipe
    monkeypatch.setattr(type(nlp), "pipe", lambda self, texts, **kw: real_pipe(self, [seen.append(t) or t for t in texts], **kw))
    caseless, cased = extractor.extract([
        "the mach number of the flow past the cone was measured by taylor in england.",
        "The Mach number of the flow past the cone was measured by Taylor in England.",
    ])
    assert seen == ["The Mach number of the flow past the cone was measured by Taylor in England."]
    assert caseless.entities == caseless.relations == ()
    assert {"Taylor", "England"} <= {e.name for e in cased.entities}


def test_a_caseless_text_keeps_the_technical_terms():
    (result,) = SpacyExtractor().extract(["the method of naca rm a51j04 was used"])
    assert {(e.name, e.type) for e in result.entities} == {("a51j04", "technology")}


def test_the_caseless_sample_shows_why_the_model_is_skipped():
    """tests/search/data/cranfield_caseless_entities.jsonl: 110 entities the model found in the
    case-folded Cranfield abstracts (a seeded random sample of all 809), each labelled by reading
    its sentence: ``correct`` when the span is a named person, organisation or place of that type
    (an eponym such as "taylor" in "the theory of taylor and maccoll" counts as the person)."""
    rows = [json.loads(line) for line in CASELESS_SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 100 and all(isinstance(row["correct"], bool) for row in rows)
    nlp = SpacyExtractor().nlp
    disabled = [name for name in nlp.pipe_names if name not in ("senter", "ner")]
    with nlp.select_pipes(disable=disabled):
        found = [{(e.text, e.label_) for e in doc.ents} for doc in nlp.pipe([row["sentence"] for row in rows])]
    # The labels describe what the model does on that text: most sampled entities come back.
    assert sum((row["name"], row["label"]) in names for row, names in zip(rows, found, strict=True)) >= 0.8 * len(rows)
    assert sum(row["correct"] for row in rows) / len(rows) < 0.35
