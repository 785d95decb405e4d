"""The embedded vector backend: the faiss vector engine (``apps.search.engines.vectors``).

A projection like Weaviate: the index step publishes each version's vectors into the
domain's persistent index (one commit that also drops the document's older versions),
deletions arrive through the port (``delete_version``, from the projection outbox), and
reconcile compares the index's side-table with the database. Every process reads the same
memory-mapped files; nothing is rebuilt per process.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from apps.core.backends import vector_stores
from apps.documents.models import Chunk
from apps.search.backends.types import HealthStatus, VectorFilter, VectorHit, VectorItem
from apps.search.backends.vectors.base import VectorStore
from apps.search.engines.vectors import VectorEntry, vector_engine
from apps.search.selectors import chunk_searchable_queryset


def vector_entries(items: Sequence[VectorItem]) -> list[VectorEntry]:
    return [
        VectorEntry(
            chunk_id=item.chunk_id,
            document_id=item.document_id,
            version_id=item.version_id,
            language=item.language or "",
            created=float(item.created),
            vector=np.asarray(item.vector, dtype=np.float32),
            model=item.model,
        )
        for item in items
    ]


class EmbeddedVectorStore(VectorStore):
    engine = vector_engine

    def upsert(self, items: Sequence[VectorItem]) -> None:
        """Idempotent: a chunk added again replaces its vector (the engine deletes by chunk id first)."""
        for domain_id in sorted({item.domain_id for item in items}):
            self.engine.write(domain_id=domain_id, add=vector_entries([i for i in items if i.domain_id == domain_id]))

    def publish(self, *, domain_id: int, items: Sequence[VectorItem], delete_version_ids: Sequence[int] = ()) -> None:
        """One commit: the listed versions (the published ones and their documents' older ones) out,
        ``items`` in."""
        self.engine.write(domain_id=domain_id, add=vector_entries(items), delete_versions=delete_version_ids)

    def delete_version(self, *, domain_id: int, version_id: int) -> None:
        self.engine.delete_version(domain_id=domain_id, version_id=version_id)

    def delete_domain(self, *, domain_id: int) -> None:
        self.engine.delete_domain(domain_id=domain_id)

    def rebuild_domain(self, *, domain_id: int, batches) -> int:
        """Start the domain's index over from ``batches`` of VectorItems (one base built once)."""
        return self.engine.rebuild(domain_id=domain_id, batches=(vector_entries(b) for b in batches))

    def model(self, *, domain_id: int) -> str:
        return self.engine.model(domain_id=domain_id)

    def search(
        self, *, domain_ids: Sequence[int], vector: np.ndarray, k: int, filters: VectorFilter | None = None
    ) -> list[VectorHit]:
        hits: list[VectorHit] = []
        for domain_id in dict.fromkeys(int(d) for d in domain_ids):
            if self.alias == "fallback" and not self.engine.exists(domain_id=domain_id):
                # Standing in for a failed scale-out store, whose domains this engine never indexed.
                found = database_search(domain_id=domain_id, vector=vector, k=k, filters=filters)
            else:
                found = self.engine.search(domain_id=domain_id, vector=vector, k=k, filters=filters)
            hits.extend(VectorHit(chunk_id=chunk_id, score=score) for chunk_id, score in found)
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def counts(self, *, domain_id: int) -> dict[int, int]:
        return self.engine.counts(domain_id=domain_id)

    def version_members(self, *, domain_id: int) -> dict[int, set[str]]:
        return self.engine.version_members(domain_id=domain_id)

    def health(self) -> HealthStatus:
        """The store answers (an index missing or unreadable only degrades search: ``index_health``)."""
        return HealthStatus(ok=True, detail="faiss vector engine")

    def index_health(self) -> HealthStatus:
        """Every domain with embedded chunks has a readable index."""
        domain_ids = (
            Chunk.objects.filter(embedding__isnull=False).order_by("domain_id").values_list("domain_id", flat=True).distinct()
        )
        return self.engine.health(domain_ids=domain_ids)


def database_search(*, domain_id: int, vector: np.ndarray, k: int, filters: VectorFilter | None) -> list[tuple[int, float]]:
    """Exact search over the searchable chunks' stored embeddings (majority model), read from the
    database for this one query: the fallback's answer for a domain without an index."""
    queryset = chunk_searchable_queryset(domain_ids=[domain_id]).filter(embedding__isnull=False)
    if filters is not None:
        if filters.document_ids:
            queryset = queryset.filter(document_id__in=list(filters.document_ids))
        if filters.languages:
            queryset = queryset.filter(version__language__in=list(filters.languages))
        if filters.created_after is not None:
            queryset = queryset.filter(document__created_at__gte=filters.created_after)
        if filters.created_before is not None:
            queryset = queryset.filter(document__created_at__lte=filters.created_before)
    rows = list(queryset.values_list("pk", "embedding", "embedding_model"))
    models = Counter(model for _, _, model in rows)
    query = np.asarray(vector, dtype=np.float32)
    rows = [(pk, bytes(e)) for pk, e, model in rows if model == models.most_common(1)[0][0] and len(e) == 4 * len(query)]
    if not rows:
        return []
    matrix = np.frombuffer(b"".join(e for _, e in rows), dtype="<f4").reshape(len(rows), -1)
    scores = matrix @ query
    best = np.argsort(-scores, kind="stable")[:k]
    return [(int(rows[i][0]), float(scores[i])) for i in best]


def vector_index_check() -> str:
    """Readiness (degradable): the vector indexes of every domain with embedded chunks open and
    read, when the default vector store is this engine (Weaviate reports as its own component)."""
    store = vector_stores["default"]
    if not isinstance(store, EmbeddedVectorStore):
        return f"not used (VECTOR_STORES default is {type(store).__name__})"
    status = store.index_health()
    if not status.ok:
        raise RuntimeError(status.detail)
    return status.detail
