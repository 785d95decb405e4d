"""The faiss vector engine across real processes, its exact and HNSW paths, filters inside the
engine, and its repair from the database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import numpy as np
import pytest
from django.conf import settings

from apps.documents.models import Chunk
from apps.search.backends.types import VectorFilter
from apps.search.engines import vectors
from apps.search.engines.vectors import VectorEntry, vector_engine
from apps.search.reconcile import rebuild_domain, reconcile_all, reconcile_domain
from tests.search.factories import make_document

DIM = 16

WRITER = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    import numpy as np
    from apps.search.engines import vectors
    from apps.search.engines.vectors import VectorEntry, vector_engine
    vectors.DELTA_MAX = 6  # merges into the base (HNSW above 10 vectors) happen while the other writes
    version, first, count = (int(a) for a in sys.argv[1:4])
    rng = np.random.default_rng(version)
    for chunk_id in range(first, first + count):  # one commit per chunk: many chances to collide
        vector = rng.standard_normal(16).astype(np.float32)
        vector_engine.write(domain_id=1, add=[VectorEntry(chunk_id, version, version, "en", 0.0, vector, "m")])
    """
)


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def entry(chunk_id: int, *, document: int, version: int | None = None, language: str = "en", created: float = 0.0,
          vector: np.ndarray | None = None, model: str = "m") -> VectorEntry:
    return VectorEntry(chunk_id, document, document if version is None else version, language, created,
                       unit(chunk_id) if vector is None else vector, model)


def _spawn(*args: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "heysh.settings",
        "HEYSH_SEARCH_INDEX_DIR": str(settings.SEARCH_INDEX_DIR),
        "HEYSH_SEARCH_ANN_MIN_VECTORS": "10",
    }
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, *map(str, args)],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def small_delta(monkeypatch, settings):
    """HNSW from 10 vectors, the delta merged into the base past 6 rows: both paths on small data."""
    settings.SEARCH_ANN_MIN_VECTORS = 10
    monkeypatch.setattr(vectors, "DELTA_MAX", 6)


def brute_force(entries: list[VectorEntry], query: np.ndarray, k: int) -> list[int]:
    scores = {e.chunk_id: float(e.vector @ query) for e in entries}
    return sorted(scores, key=lambda c: -scores[c])[:k]


def test_two_processes_writing_at_once_lose_nothing_and_a_reader_sees_their_commits():
    vector_engine.write(domain_id=1, add=[entry(1, document=1, vector=unit(1))])
    assert [c for c, _ in vector_engine.search(domain_id=1, vector=unit(1), k=10)] == [1]  # a reader is open here
    writers = [_spawn(100, 1000, 20), _spawn(200, 2000, 20)]
    for proc in writers:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    members = vector_engine.version_members(domain_id=1)
    assert members == {1: {"1"}, 100: {str(i) for i in range(1000, 1020)}, 200: {str(i) for i in range(2000, 2020)}}
    assert vector_engine.size(domain_id=1)["kind"] == "hnsw"  # the writers merged their deltas into an HNSW base
    # The reader opened before the other processes committed sees their vectors, without the database.
    found = vector_engine.search(domain_id=1, vector=unit(1), k=100)
    assert len(found) == 41 and found[0] == (1, pytest.approx(1.0, abs=1e-5))
    only_200 = vector_engine.search(domain_id=1, vector=unit(1), k=100, filters=VectorFilter(document_ids=(200,)))
    assert {c for c, _ in only_200} == set(range(2000, 2020))


def test_exact_below_the_threshold_and_hnsw_above_it_agree_with_brute_force(small_delta, settings):
    entries = [entry(i, document=i // 10) for i in range(1, 6)]
    vector_engine.write(domain_id=7, add=entries)
    assert vector_engine.size(domain_id=7)["kind"] == "none"  # five rows: the delta alone, scanned exactly
    vector_engine.write(domain_id=7, add=[entry(6, document=0), entry(7, document=0)])
    assert vector_engine.size(domain_id=7)["kind"] == "flat"  # seven rows, under 10: an exact flat base
    entries += [entry(6, document=0), entry(7, document=0)]
    more = [entry(i, document=i // 10) for i in range(8, 301)]
    for start in range(0, len(more), 50):
        vector_engine.write(domain_id=7, add=more[start : start + 50])
    everything = entries + more
    assert vector_engine.size(domain_id=7) == {"kind": "hnsw", "vectors": 300, "tombstones": 0, "delta": 0, "model": "m"}
    for seed in range(20):
        query = unit(10_000 + seed)
        got = vector_engine.search(domain_id=7, vector=query, k=10)
        assert [c for c, _ in got] == brute_force(everything, query, 10)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)

    settings.SEARCH_ANN_MIN_VECTORS = 1000  # a rebuild below the threshold makes an exact flat base
    vector_engine.rebuild(domain_id=7, batches=[everything])
    assert vector_engine.size(domain_id=7)["kind"] == "flat"
    query = unit(424242)
    assert [c for c, _ in vector_engine.search(domain_id=7, vector=query, k=10)] == brute_force(everything, query, 10)


def test_filters_apply_inside_the_engine_and_still_return_k_hits(small_delta):
    """A document filter returns k hits of that document although every other document's
    chunks are closer; language and date filters go through faiss' selector."""
    query = unit(5)
    near = [entry(i, document=1, vector=_towards(query, 0.95, i)) for i in range(1, 201)]
    far = [
        entry(1000 + i, document=2, language="fr" if i % 2 else "en", created=float(i), vector=_towards(query, 0.1, 1000 + i))
        for i in range(20)
    ]
    vector_engine.write(domain_id=3, add=near)
    vector_engine.write(domain_id=3, add=far[:15])  # in the base
    vector_engine.write(domain_id=3, add=far[15:])  # in the delta
    assert vector_engine.size(domain_id=3)["kind"] == "hnsw" and vector_engine.size(domain_id=3)["delta"] == 5

    got = vector_engine.search(domain_id=3, vector=query, k=10, filters=VectorFilter(document_ids=(2,)))
    assert [c for c, _ in got] == brute_force(far, query, 10)
    assert vector_engine.search(domain_id=3, vector=query, k=10, filters=VectorFilter(document_ids=(99,))) == []

    french = [e for e in near + far if e.language == "fr"]
    got = vector_engine.search(domain_id=3, vector=query, k=5, filters=VectorFilter(languages=("fr",)))
    assert [c for c, _ in got] == brute_force(french, query, 5)

    after = datetime.fromtimestamp(14.5, tz=UTC)
    late = [e for e in far if e.created >= 14.5]
    got = vector_engine.search(domain_id=3, vector=query, k=10, filters=VectorFilter(created_after=after))
    assert [c for c, _ in got] == brute_force(late, query, 10) and len(got) == 5
    english_near = vector_engine.search(domain_id=3, vector=query, k=3, filters=VectorFilter(languages=("en",)))
    assert [c for c, _ in english_near] == brute_force([e for e in near + far if e.language == "en"], query, 3)


def _towards(target: np.ndarray, weight: float, seed: int) -> np.ndarray:
    vector = weight * target + (1 - weight) * unit(seed)
    return vector / np.linalg.norm(vector)


def test_deletes_are_tombstones_until_a_third_of_the_base_is_gone_then_it_is_rebuilt(small_delta):
    vector_engine.write(domain_id=4, add=[entry(i, document=i // 10) for i in range(100)])
    vector_engine.write(domain_id=4, delete_versions=[0, 1])  # 20 of 100: tombstones in the HNSW base
    assert vector_engine.size(domain_id=4) == {"kind": "hnsw", "vectors": 80, "tombstones": 20, "delta": 0, "model": "m"}
    hits = vector_engine.search(domain_id=4, vector=unit(3), k=100)
    assert len(hits) == 80 and all(c >= 20 for c, _ in hits)
    vector_engine.write(domain_id=4, delete_chunks=range(20, 40))  # 40 of 100: the base is rebuilt without them
    assert vector_engine.size(domain_id=4) == {"kind": "hnsw", "vectors": 60, "tombstones": 0, "delta": 0, "model": "m"}
    assert {c for c, _ in vector_engine.search(domain_id=4, vector=unit(3), k=100)} == set(range(40, 100))
    # Re-adding a chunk replaces its vector: the same chunk twice is one vector.
    vector_engine.write(domain_id=4, add=[entry(50, document=5, vector=unit(777))])
    vector_engine.write(domain_id=4, add=[entry(50, document=5, vector=unit(777))])
    assert vector_engine.counts(domain_id=4)[5] == 10
    assert vector_engine.search(domain_id=4, vector=unit(777), k=1) == [(50, pytest.approx(1.0, abs=1e-5))]


def test_one_model_per_index(small_delta):
    vector_engine.write(domain_id=5, add=[entry(1, document=1, model="old"), entry(2, document=1, model="old")])
    assert vector_engine.write(domain_id=5, add=[entry(3, document=2, model="new")]) == 0  # never mixed
    assert vector_engine.counts(domain_id=5) == {1: 2} and vector_engine.model(domain_id=5) == "old"
    vector_engine.write(domain_id=5, delete_versions=[1])
    assert vector_engine.write(domain_id=5, add=[entry(3, document=2, model="new")]) == 1  # an empty index takes it
    assert vector_engine.model(domain_id=5) == "new"


@pytest.mark.django_db
def test_a_corrupted_index_is_reported_degrades_search_and_is_rebuilt_from_the_database(domain, owner_client):
    make_document(domain, "Wing", ["Swept wings delay the drag rise."])
    make_document(domain, "Rotor", ["Rotor blades flap."])
    assert vector_engine.health(domain_ids=[domain.pk]).ok
    (vector_engine.path(domain.pk) / "meta.json").write_text("{not json")

    health = vector_engine.health(domain_ids=[domain.pk])
    assert not health.ok and health.extra["corrupt"] == [domain.pk]
    ready = owner_client.get("/ready").json()
    assert ready["components"]["search_index.vectors"]["ok"] is False and "search_index.vectors" in ready["degraded"]
    response = owner_client.get("/api/v1/search", {"q": "swept wings", "mode": "vector"})
    assert response.status_code == 200 and "vector" in response.json()["degraded"]

    assert rebuild_domain(domain=domain, backend="vectors") == 2
    assert vector_engine.health(domain_ids=[domain.pk]).ok
    assert owner_client.get("/ready").json()["components"]["search_index.vectors"]["ok"] is True
    wing = Chunk.objects.get(document__title="Wing")
    stored = np.frombuffer(bytes(wing.embedding), dtype="<f4")
    assert vector_engine.search(domain_id=domain.pk, vector=stored, k=1)[0][0] == wing.pk

    # The beat reconcile repairs it too: an unreadable index is rebuilt, a missing one refilled.
    generation = vector_engine.path(domain.pk) / f"g{_generation(domain.pk)}"
    (generation / "delta-vectors.npy").write_bytes(b"garbage")
    vectors._readers.clear()
    assert not vector_engine.health(domain_ids=[domain.pk]).ok
    reconcile_all()
    assert len(vector_engine.search(domain_id=domain.pk, vector=stored, k=5)) == 2
    vector_engine.delete_domain(domain_id=domain.pk)
    assert vector_engine.health(domain_ids=[domain.pk]).extra["missing"] == [domain.pk]
    reconcile_all()
    assert vector_engine.search(domain_id=domain.pk, vector=stored, k=1)[0][0] == wing.pk


def _generation(domain_id: int) -> int:
    import json

    return json.loads((vector_engine.path(domain_id) / "meta.json").read_text())["generation"]


@pytest.mark.django_db
def test_reconcile_restores_missing_vectors_and_removes_unknown_ones(domain):
    kept = make_document(domain, "Kept", ["Flaps raise lift."])
    lost = make_document(domain, "Lost", ["Slats delay the stall."])
    vector_engine.delete_version(domain_id=domain.pk, version_id=lost.current_version_id)
    ghost = np.frombuffer(bytes(Chunk.objects.get(document=kept).embedding), dtype="<f4")
    model = Chunk.objects.get(document=kept).embedding_model
    vector_engine.write(domain_id=domain.pk, add=[VectorEntry(999999, 1, 999999, "en", 0.0, ghost, model)])
    report = reconcile_domain(domain=domain, backend="vectors")
    assert report.reprojected == [lost.current_version_id] and report.removed == [999999]
    assert set(vector_engine.counts(domain_id=domain.pk)) == {kept.current_version_id, lost.current_version_id}
    assert reconcile_domain(domain=domain, backend="vectors").drift == 0


@pytest.mark.django_db
def test_a_new_majority_model_rebuilds_the_index(domain):
    make_document(domain, "One", ["Ailerons control roll.", "Elevators control pitch."])
    Chunk.objects.filter(domain=domain).update(embedding_model="another-model")
    reconcile_domain(domain=domain, backend="vectors")
    assert vector_engine.model(domain_id=domain.pk) == "another-model"
    assert sum(vector_engine.counts(domain_id=domain.pk).values()) == 2


@pytest.mark.django_db
def test_deleting_or_replacing_a_document_removes_exactly_its_vectors(domain):
    from apps.core.projection_outbox import projection_deletes_drain
    from apps.documents.services import document_delete

    gone = make_document(domain, "Gone", ["Canards trim pitch.", "Canards stall first."])
    stays = make_document(domain, "Stays", ["Canards on a fighter."])
    replaced = make_document(domain, "Replaced", ["Old text."])
    new = make_document(domain, "Replaced", ["New text.", "More new text."], document=replaced)
    document_delete(document=gone)
    projection_deletes_drain()  # what the storage worker does after the delete commits
    assert vector_engine.version_members(domain_id=domain.pk) == {
        stays.current_version_id: {str(pk) for pk in Chunk.objects.filter(document=stays).values_list("pk", flat=True)},
        new.current_version_id: {str(pk) for pk in Chunk.objects.filter(version=new.current_version).values_list("pk", flat=True)},
    }


@pytest.mark.django_db
def test_standing_in_for_a_failed_scale_out_store_scans_the_database_where_the_engine_has_no_index(domain, owner_client):
    """With Weaviate as the default the engine never indexed the domain: its fallback answers
    from the stored embeddings instead of finding nothing."""
    from django.test import override_settings

    make_document(domain, "Shock waves", ["Supersonic flow over a wedge makes an oblique shock."])
    make_document(domain, "Rotors", ["Helicopter rotor blades flap and lag."])
    vector_engine.delete_domain(domain_id=domain.pk)
    broken = {"default": {"BACKEND": "tests.search.test_search_api.BrokenVectorStore"}}
    with override_settings(VECTOR_STORES=broken):
        body = owner_client.get("/api/v1/search", {"q": "supersonic wedge shock", "mode": "vector", "k": 1}).json()
    assert [r["document"]["title"] for r in body["results"]] == ["Shock waves"]
    assert body["degraded"] == ["vector"] and "embedded" in body["degraded_detail"]["vector"]
    assert not vector_engine.exists(domain_id=domain.pk)  # the stand-in wrote nothing


def _resident_kb(path) -> tuple[int, int]:
    """(size, resident) in kB of this process's mappings of ``path``, from /proc/self/smaps."""
    size = rss = 0
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
                inside = len(fields) >= 6 and fields[5] == str(path)
            elif inside and fields[0] == "Size:":
                size += int(fields[1])
            elif inside and fields[0] == "Rss:":
                rss += int(fields[1])
    return size, rss


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps and madvise are Linux's")
def test_a_reader_maps_the_whole_base_when_it_opens_it(small_delta):
    """Opening a base faults every page of the mmapped file in, so searches do not page-fault over it."""
    vector_engine.write(domain_id=9, add=[entry(i, document=i // 10, vector=np.tile(unit(i), 64)) for i in range(1, 2001)])
    assert vector_engine.size(domain_id=9)["kind"] == "hnsw"
    vectors._readers.pop(9, None)  # a fresh reader, as a new web process would open it
    state = vector_engine._reader(9)  # opened, not searched yet
    base_file = (vector_engine.path(9) / f"g{state.generation}" / "base.faiss").resolve()
    size, resident = _resident_kb(base_file)
    assert size > 1024  # 2,000 × 1,024-d float32: the vectors are mapped from the file, not copied
    assert resident >= 0.95 * size
    assert vector_engine.search(domain_id=9, vector=np.tile(unit(1), 64), k=1)[0][0] == 1
