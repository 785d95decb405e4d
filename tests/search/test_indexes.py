import bm25s
import numpy as np
import pytest

from apps.documents.models import Chunk, Document, DocumentVersion
from apps.search.backends.types import VectorFilter
from apps.search.backends.vectors.embedded import EmbeddedVectorStore
from apps.search.engines import keyword, vectors
from apps.search.engines.keyword import keyword_engine
from apps.search.engines.vectors import vector_engine
from apps.search.indexing import versions_publish
from apps.search.services.keyword import analyze, keyword_search
from apps.search.warm import search_indexes_open, search_indexes_open_in_background
from tests.factories import DomainFactory
from tests.search.factories import bump, make_document

pytestmark = pytest.mark.django_db

TEXTS = [
    "supersonic flow over a wedge with an oblique shock",
    "boundary layer transition on a flat plate in supersonic flow",
    "heat transfer to a cylinder in hypersonic flow flow flow",
    "the effect of wall cooling on boundary layer stability",
    "shock wave boundary layer interaction",
]


def test_engine_scores_equal_bm25s_lucene_scores(domain):
    """The tantivy engine must score exactly like bm25s (method="lucene") on the same terms
    (short texts: tantivy's one-byte length norms are exact below 40 terms)."""
    for i, text in enumerate(TEXTS):
        make_document(domain, f"d{i}", [text])
    chunk_ids = list(Chunk.objects.filter(domain=domain).order_by("document_id").values_list("pk", flat=True))
    corpus = [analyze(f"d{i}\n{t}") for i, t in enumerate(TEXTS)]
    reference = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    reference.index(corpus, show_progress=False)
    for query in ("supersonic boundary layer", "flow", "shock interaction cooling"):
        hits = {
            h.chunk_id: h.score for h in keyword_search(domains=[(domain.pk, domain.index_version)], query=query, k=10)
        }
        theirs = reference.get_scores(list(dict.fromkeys(analyze(query))))
        ours = np.array([hits.get(c, 0.0) for c in chunk_ids])
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_keyword_engine_follows_new_documents_and_replaced_versions(domain):
    one = make_document(domain, "One", ["Ailerons control roll."])
    make_document(domain, "Two", ["Elevators control pitch."])
    hits = keyword_search(domains=[(domain.pk, domain.index_version)], query="pitch", k=5)
    assert [h.chunk_id for h in hits] == list(Chunk.objects.filter(document__title="Two").values_list("pk", flat=True))
    # A new version of One replaces exactly One's entries: the old version is gone, Two stays.
    make_document(domain, "One", ["Spoilers reduce lift."], document=one)
    assert keyword_search(domains=[(domain.pk, domain.index_version)], query="ailerons", k=5) == []
    new_chunk = Chunk.objects.get(version=Document.objects.get(pk=one.pk).current_version)
    assert [h.chunk_id for h in keyword_search(domains=[(domain.pk, domain.index_version)], query="spoilers", k=5)] == [
        new_chunk.pk
    ]
    assert len(keyword_search(domains=[(domain.pk, domain.index_version)], query="control", k=5)) == 1


def test_keyword_filters_and_title_terms(domain):
    a = make_document(domain, "Hypersonic notes", ["Heating of the nose cone."], language="en")
    make_document(domain, "Notes", ["Heating of the leading edge."], language="fr")
    domains = [(domain.pk, domain.index_version)]
    assert len(keyword_search(domains=domains, query="heating", k=5)) == 2
    only_fr = keyword_search(domains=domains, query="heating", k=5, filters=VectorFilter(languages=("fr",)))
    assert len(only_fr) == 1
    # The document title is indexed with each of its chunks.
    titled = keyword_search(domains=domains, query="hypersonic", k=5)
    assert [h.chunk_id for h in titled] == list(Chunk.objects.filter(document=a).values_list("pk", flat=True))


def test_vector_engine_follows_new_documents_and_replaced_versions(domain):
    """The index step's commits add a document's vectors and replace a re-processed one's exactly."""
    first_doc = make_document(domain, "One", ["alpha beta", "gamma delta"])
    assert vector_engine.counts(domain_id=domain.pk) == {first_doc.current_version_id: 2}
    second = make_document(domain, "Two", ["epsilon zeta"])
    replaced = make_document(domain, "One", ["eta theta"], document=first_doc)
    assert vector_engine.counts(domain_id=domain.pk) == {second.current_version_id: 1, replaced.current_version_id: 1}
    stored = np.frombuffer(bytes(Chunk.objects.get(text="epsilon zeta").embedding), dtype="<f4")
    [(chunk_id, score)] = vector_engine.search(domain_id=domain.pk, vector=stored, k=1)
    assert chunk_id == Chunk.objects.get(text="epsilon zeta").pk and score == pytest.approx(1.0, abs=1e-5)


def test_vector_store_search_is_exact_and_scoped(domain):
    make_document(domain, "A", ["alpha beta gamma"])
    target = make_document(domain, "B", ["rotor blade vortex"])
    store = EmbeddedVectorStore()
    from apps.core.backends import embedders

    query = embedders["default"].embed_query("rotor blade vortex")
    hits = store.search(domain_ids=[domain.pk], vector=query, k=1)
    assert hits[0].chunk_id == Chunk.objects.get(document=target).pk and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert store.search(domain_ids=[domain.pk + 999], vector=query, k=5) == []
    only_a = store.search(
        domain_ids=[domain.pk], vector=query, k=5, filters=VectorFilter(document_ids=(target.pk + 1000,))
    )
    assert only_a == []


def test_rm3_feedback_adds_terms_of_the_best_chunks_and_respects_filters(domain):
    a = make_document(domain, "Roll", ["Ailerons control roll of the aircraft."])
    b = make_document(domain, "Surfaces", ["Ailerons deflect differentially on the wing."], language="fr")
    make_document(domain, "Other", ["Rotor blades of a helicopter."])
    domains = [(domain.pk, domain.index_version)]
    ids = lambda doc: list(Chunk.objects.filter(document=doc).values_list("pk", flat=True))  # noqa: E731
    plain = keyword_search(domains=domains, query="roll", k=5)
    assert [h.chunk_id for h in plain] == ids(a)
    # Feedback from the best chunk ("ailerons", "aircraft", ...) reaches B, which lacks "roll"; A stays first.
    expanded = keyword_search(
        domains=domains, query="roll", k=5, feedback_docs=1, feedback_terms=5, feedback_weight=0.3
    )
    assert [h.chunk_id for h in expanded] == ids(a) + ids(b)
    assert expanded[0].score > expanded[1].score > 0
    # A zero weight is the plain query; filters still apply to the expanded query.
    assert [
        h.chunk_id for h in keyword_search(domains=domains, query="roll", k=5, feedback_docs=1, feedback_weight=0.0)
    ] == ids(a)
    only_en = keyword_search(
        domains=domains, query="roll", k=5, filters=VectorFilter(languages=("en",)), feedback_docs=1, feedback_terms=5
    )
    assert [h.chunk_id for h in only_en] == ids(a)
    # Above feedback_max_chunks (3 chunks here) feedback is skipped: the plain ranking, B absent.
    capped = keyword_search(domains=domains, query="roll", k=5, feedback_docs=1, feedback_terms=5, feedback_max_chunks=2)
    assert [(h.chunk_id, h.score) for h in capped] == [(h.chunk_id, h.score) for h in plain]
    at_limit = keyword_search(domains=domains, query="roll", k=5, feedback_docs=1, feedback_terms=5, feedback_max_chunks=3)
    assert [h.chunk_id for h in at_limit] == ids(a) + ids(b)


def test_a_publishing_batch_writes_each_domain_once_and_keeps_only_the_newest_version(domain, monkeypatch):
    """versions_publish (the index step) commits the keyword entries of a whole batch with one
    engine write per domain; a version the batch also replaces ends up out of the index."""
    other = DomainFactory()
    one = make_document(domain, "One", ["Ailerons control roll."])
    old_version = one.current_version
    one = make_document(domain, "One", ["Spoilers reduce lift."], document=one)
    two = make_document(domain, "Two", ["Elevators control pitch."])
    three = make_document(other, "Three", ["Flaps raise lift."])
    writes = []
    write = keyword_engine.write
    monkeypatch.setattr(keyword_engine, "write", lambda **kw: writes.append(kw["domain_id"]) or write(**kw))
    versions = [old_version, one.current_version, two.current_version, three.current_version]
    results = versions_publish(versions=DocumentVersion.objects.select_related("document").filter(pk__in=[v.pk for v in versions]).order_by("pk"))
    assert sorted(writes) == sorted([domain.pk, other.pk])
    assert [results[v.pk]["keywords"] for v in versions] == [0, 1, 1, 1]
    bump(domain)
    domains = [(domain.pk, domain.index_version)]
    assert keyword_search(domains=domains, query="ailerons", k=5) == []
    assert [h.chunk_id for h in keyword_search(domains=domains, query="spoilers", k=5)] == list(
        Chunk.objects.filter(version=one.current_version).values_list("pk", flat=True)
    )
    assert len(keyword_search(domains=domains, query="pitch", k=5)) == 1
    assert len(keyword_search(domains=[(other.pk, other.index_version + 1)], query="flaps", k=5)) == 1


@pytest.mark.django_db
def test_ready_opens_every_domains_indexes_so_the_first_search_opens_none(domain, owner_client, monkeypatch):
    """/ready's index checks open each domain's tantivy index and faiss generation in the process
    that answers it; the first search after a 200 finds them open (figure 5: no lazy open in it)."""
    make_document(domain, "Wing", ["Swept wings delay the drag rise."])
    monkeypatch.setattr(keyword, "_readers", {})  # a fresh process: nothing open yet
    monkeypatch.setattr(vectors, "_readers", {})

    body = owner_client.get("/ready").json()
    assert body["components"]["search_index.keyword"]["ok"] is True
    assert body["components"]["search_index.vectors"]["ok"] is True
    assert domain.pk in keyword._readers and domain.pk in vectors._readers

    opened = []
    real_open, real_load = keyword._open, vectors._load
    monkeypatch.setattr(keyword, "_open", lambda path: opened.append(("keyword", path)) or real_open(path))
    monkeypatch.setattr(vectors, "_load", lambda path, previous: opened.append(("vectors", path)) or real_load(path, previous))
    response = owner_client.post("/api/v1/search", {"query": "swept wings", "mode": "hybrid", "k": 5}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["results"] and not response.json()["degraded"]
    assert opened == []


@pytest.mark.django_db(transaction=True)
def test_a_web_process_opens_every_domains_indexes_at_start_in_the_background(domain, monkeypatch):
    """heysh/wsgi.py starts this in every worker: the first search of a worker /ready never
    reached finds the indexes open. A domain whose index cannot open is reported, not raised."""
    make_document(domain, "Wing", ["Swept wings delay the drag rise."])
    monkeypatch.setattr(keyword, "_readers", {})  # a fresh worker: nothing open yet
    monkeypatch.setattr(vectors, "_readers", {})

    search_indexes_open_in_background().join(timeout=60)
    assert domain.pk in keyword._readers and domain.pk in vectors._readers

    monkeypatch.setattr(keyword, "_readers", {})
    (keyword_engine.path(domain.pk) / "meta.json").write_text("{not json")
    outcome = search_indexes_open()
    assert outcome["keyword"].startswith("failed:") and str(domain.pk) in outcome["keyword"]
    assert not outcome["vectors"].startswith("failed") and domain.pk in vectors._readers
