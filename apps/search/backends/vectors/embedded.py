"""The embedded vector backend: exact cosine search over the chunk embeddings in the DB.

Each process keeps one float32 matrix per domain (a module-level cache shared by every
thread), built from ``Chunk.embedding`` and tagged with the domain's ``index_version``.
Any change to a domain's chunks bumps that counter, so a stale matrix is rebuilt on
the next query and never served; the rebuild copies the vectors it already holds and
fetches only new or re-embedded chunks. Exact search (a matrix–vector product) is a
few milliseconds at 100k × 384.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db.models import Count

from apps.documents.models import Chunk
from apps.domains.models import Domain
from apps.search.backends.types import HealthStatus, VectorFilter, VectorHit, VectorItem
from apps.search.backends.vectors.base import VectorStore
from apps.search.selectors import chunk_searchable_queryset


@dataclass
class DomainMatrix:
    index_version: int
    matrix: np.ndarray  # (n, d) float32
    chunk_ids: np.ndarray  # (n,) int64, ascending
    document_ids: np.ndarray  # (n,) int64
    languages: np.ndarray  # (n,) object
    created: np.ndarray  # (n,) float64 epoch seconds of the document
    model: str = ""
    load_seconds: float = 0.0


_matrices: dict[int, DomainMatrix] = {}
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _domain_lock(domain_id: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(domain_id, threading.Lock())


def _load_domain(domain_id: int, index_version: int, previous: DomainMatrix | None = None) -> DomainMatrix:
    """Build the matrix; rows whose vectors ``previous`` already holds are copied, not fetched again."""
    started = time.perf_counter()
    # Only each document's current version: a replaced version's vectors are never served.
    queryset = chunk_searchable_queryset(domain_ids=[domain_id]).filter(embedding__isnull=False).order_by("pk")
    rows = list(
        queryset.values_list("pk", "document_id", "version__language", "document__created_at", "embedding_model").iterator(chunk_size=10000)
    )
    models = Counter(r[4] for r in rows)
    # Mid-reindex to a new model, vectors of two models coexist: serve the majority, never mix them.
    model = models.most_common(1)[0][0] if models else ""
    rows = [r for r in rows if r[4] == model]
    chunk_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    reuse = np.zeros(len(rows), dtype=bool)
    source = np.zeros(len(rows), dtype=np.int64)
    if previous is not None and previous.model == model and len(previous.chunk_ids) and len(rows):
        source = np.clip(np.searchsorted(previous.chunk_ids, chunk_ids), 0, len(previous.chunk_ids) - 1)
        reuse = previous.chunk_ids[source] == chunk_ids
    missing = chunk_ids[~reuse]
    fetched: dict[int, bytes] = {}
    if len(missing):
        vectors = queryset.values_list("pk", "embedding")
        if len(missing) < len(rows) // 2:
            ids = missing.tolist()
            batches = (vectors.filter(pk__in=ids[i : i + 5000]) for i in range(0, len(ids), 5000))
        else:
            batches = (vectors.iterator(chunk_size=5000),)
        for batch in batches:
            for pk, embedding in batch:
                fetched[pk] = embedding
    dims = Counter(len(b) // 4 for b in fetched.values())
    dim = previous.matrix.shape[1] if reuse.any() else (dims.most_common(1)[0][0] if dims else 0)
    keep = reuse | np.fromiter((len(fetched.get(int(pk), b"")) == dim * 4 for pk in chunk_ids), dtype=bool, count=len(chunk_ids))
    matrix = np.empty((int(keep.sum()), dim), dtype=np.float32)
    kept = np.flatnonzero(keep)
    reused_at = np.flatnonzero(reuse[kept])
    if len(reused_at):
        matrix[reused_at] = previous.matrix[source[kept[reused_at]]]
    for out_row in np.flatnonzero(~reuse[kept]):
        matrix[out_row] = np.frombuffer(fetched[int(chunk_ids[kept[out_row]])], dtype="<f4")
    rows = [rows[i] for i in kept]
    return DomainMatrix(
        index_version=index_version,
        matrix=matrix,
        chunk_ids=chunk_ids[kept],
        document_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        languages=np.array([r[2] or "" for r in rows], dtype=object),
        created=np.fromiter((r[3].timestamp() for r in rows), dtype=np.float64, count=len(rows)),
        model=model,
        load_seconds=time.perf_counter() - started,
    )


def domain_matrix(domain_id: int, index_version: int) -> DomainMatrix:
    cached = _matrices.get(domain_id)
    if cached is not None and cached.index_version == index_version:
        return cached
    with _domain_lock(domain_id):
        cached = _matrices.get(domain_id)
        if cached is None or cached.index_version != index_version:
            cached = _matrices[domain_id] = _load_domain(domain_id, index_version, cached)
        return cached


def filter_mask(entry, filters: VectorFilter | None) -> np.ndarray | None:
    """Boolean mask over an entry's rows (any object with document_ids/languages/created arrays)."""
    if filters is None:
        return None
    mask = np.ones(len(entry.chunk_ids), dtype=bool)
    if filters.document_ids:
        mask &= np.isin(entry.document_ids, np.array(filters.document_ids, dtype=np.int64))
    if filters.languages:
        mask &= np.isin(entry.languages, np.array(filters.languages, dtype=object))
    if filters.created_after is not None:
        mask &= entry.created >= filters.created_after.timestamp()
    if filters.created_before is not None:
        mask &= entry.created <= filters.created_before.timestamp()
    return mask


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class EmbeddedVectorStore(VectorStore):
    needs_items = False

    def upsert(self, items: Sequence[VectorItem]) -> None:
        """Nothing to write: the index step stores embeddings on the chunk rows and bumps the domain's index_version."""

    def delete_version(self, *, domain_id: int, version_id: int) -> None:
        """Nothing to delete: removing the chunks (and bumping index_version) removes their vectors."""

    def delete_domain(self, *, domain_id: int) -> None:
        _matrices.pop(domain_id, None)

    def search(self, *, domain_ids: Sequence[int], vector: np.ndarray, k: int, filters: VectorFilter | None = None) -> list[VectorHit]:
        query = np.asarray(vector, dtype=np.float32)
        hits: list[VectorHit] = []
        for domain_id, index_version in Domain.objects.filter(pk__in=list(domain_ids)).values_list("pk", "index_version"):
            entry = domain_matrix(domain_id, index_version)
            if not len(entry.chunk_ids) or entry.matrix.shape[1] != query.shape[0]:
                continue
            scores = entry.matrix @ query
            mask = filter_mask(entry, filters)
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            for i in top_k(scores, k):
                if np.isfinite(scores[i]):
                    hits.append(VectorHit(chunk_id=int(entry.chunk_ids[i]), score=float(scores[i])))
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def counts(self, *, domain_id: int) -> dict[int, int]:
        return {
            row["version_id"]: row["n"]
            for row in Chunk.objects.filter(domain_id=domain_id, embedding__isnull=False).values("version_id").annotate(n=Count("pk"))
        }

    def health(self) -> HealthStatus:
        return HealthStatus(ok=True, detail=f"embedded ({len(_matrices)} domain matrices cached)")
