import bm25s
import numpy as np
import pytest

from apps.documents.models import Chunk, Document
from apps.search.backends.types import VectorFilter
from apps.search.backends.vectors import embedded
from apps.search.backends.vectors.embedded import EmbeddedVectorStore, domain_matrix
from apps.search.services import keyword
from apps.search.services.keyword import analyze, bm25_matrix, keyword_index, keyword_search
from tests.search.factories import bump, make_document

pytestmark = pytest.mark.django_db

TEXTS = [
    "supersonic flow over a wedge with an oblique shock",
    "boundary layer transition on a flat plate in supersonic flow",
    "heat transfer to a cylinder in hypersonic flow flow flow",
    "the effect of wall cooling on boundary layer stability",
    "shock wave boundary layer interaction",
]


def test_bm25_weights_equal_bm25s_lucene_scores():
    """Our vectorized matrix must score exactly like bm25s (method="lucene") on the same tokens."""
    corpus = [analyze(t) for t in TEXTS]
    vocab: dict[str, int] = {}
    per_chunk = []
    for terms in corpus:
        ids = np.array([vocab.setdefault(t, len(vocab)) for t in terms], dtype=np.int32)
        unique, counts = np.unique(ids, return_counts=True)
        per_chunk.append((unique, counts.astype(np.float32), len(terms)))
    indptr, rows, weights = bm25_matrix(per_chunk, len(vocab), k1=1.2, b=0.75)
    reference = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    reference.index(corpus, show_progress=False)
    for query in ("supersonic boundary layer", "flow", "shock interaction cooling", "flow flow heat"):
        ids = [vocab[t] for t in analyze(query) if t in vocab]
        ours = np.bincount(
            np.concatenate([rows[indptr[t] : indptr[t + 1]] for t in ids]),
            weights=np.concatenate([weights[indptr[t] : indptr[t + 1]] for t in ids]),
            minlength=len(TEXTS),
        )
        theirs = reference.get_scores(analyze(query))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_keyword_index_is_rebuilt_when_the_index_version_moves_and_reuses_analysis(domain):
    make_document(domain, "One", ["Ailerons control roll."])
    first = keyword_index(domain_id=domain.pk, index_version=domain.index_version)
    assert keyword_index(domain_id=domain.pk, index_version=domain.index_version) is first
    make_document(domain, "Two", ["Elevators control pitch."])
    second = keyword_index(domain_id=domain.pk, index_version=domain.index_version)
    assert second is not first and len(second.chunk_ids) == 2
    old_chunk = int(first.chunk_ids[0])
    assert second.tokens[old_chunk] is first.tokens[old_chunk]  # not analyzed twice
    hits = keyword_search(domains=[(domain.pk, domain.index_version)], query="pitch", k=5)
    assert [h.chunk_id for h in hits] == list(Chunk.objects.filter(document__title="Two").values_list("pk", flat=True))


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


def test_vector_matrix_rebuild_copies_known_vectors_and_drops_removed_ones(domain):
    first_doc = make_document(domain, "One", ["alpha beta", "gamma delta"])
    first = domain_matrix(domain.pk, domain.index_version)
    assert first.matrix.shape == (2, 384)
    make_document(domain, "Two", ["epsilon zeta"])
    second = domain_matrix(domain.pk, domain.index_version)
    assert second.matrix.shape == (3, 384)
    np.testing.assert_array_equal(second.matrix[:2], first.matrix)
    stored = np.frombuffer(bytes(Chunk.objects.get(text="epsilon zeta").embedding), dtype="<f4")
    np.testing.assert_array_equal(second.matrix[2], stored)
    Document.objects.filter(pk=first_doc.pk).delete()
    bump(domain)
    third = domain_matrix(domain.pk, domain.index_version)
    assert third.chunk_ids.tolist() == [Chunk.objects.get(text="epsilon zeta").pk]


def test_vector_store_search_is_exact_and_scoped(domain):
    make_document(domain, "A", ["alpha beta gamma"])
    target = make_document(domain, "B", ["rotor blade vortex"])
    store = EmbeddedVectorStore()
    from apps.core.backends import embedders

    query = embedders["default"].embed_query("rotor blade vortex")
    hits = store.search(domain_ids=[domain.pk], vector=query, k=1)
    assert hits[0].chunk_id == Chunk.objects.get(document=target).pk and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert store.search(domain_ids=[domain.pk + 999], vector=query, k=5) == []
    only_a = store.search(domain_ids=[domain.pk], vector=query, k=5, filters=VectorFilter(document_ids=(target.pk + 1000,)))
    assert only_a == []


def test_caches_are_module_level_not_per_thread(domain):
    import threading

    make_document(domain, "One", ["Ailerons control roll."])
    built = keyword_index(domain_id=domain.pk, index_version=domain.index_version)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(keyword._indexes.get(domain.pk)))
    thread.start()
    thread.join()
    assert seen == [built] and embedded._matrices is embedded._matrices


def test_rm3_feedback_adds_terms_of_the_best_chunks_and_respects_filters(domain):
    a = make_document(domain, "Roll", ["Ailerons control roll of the aircraft."])
    b = make_document(domain, "Surfaces", ["Ailerons deflect differentially on the wing."], language="fr")
    make_document(domain, "Other", ["Rotor blades of a helicopter."])
    domains = [(domain.pk, domain.index_version)]
    ids = lambda doc: list(Chunk.objects.filter(document=doc).values_list("pk", flat=True))  # noqa: E731
    plain = keyword_search(domains=domains, query="roll", k=5)
    assert [h.chunk_id for h in plain] == ids(a)
    # Feedback from the best chunk ("ailerons", "aircraft", ...) reaches B, which lacks "roll"; A stays first.
    expanded = keyword_search(domains=domains, query="roll", k=5, feedback_docs=1, feedback_terms=5, feedback_weight=0.3)
    assert [h.chunk_id for h in expanded] == ids(a) + ids(b)
    assert expanded[0].score > expanded[1].score > 0
    # A zero weight is the plain query; filters still apply to the expanded query.
    assert [h.chunk_id for h in keyword_search(domains=domains, query="roll", k=5, feedback_docs=1, feedback_weight=0.0)] == ids(a)
    only_en = keyword_search(
        domains=domains, query="roll", k=5, filters=VectorFilter(languages=("en",)), feedback_docs=1, feedback_terms=5
    )
    assert [h.chunk_id for h in only_en] == ids(a)
