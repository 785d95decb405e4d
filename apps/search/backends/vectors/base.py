from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from apps.search.backends.types import HealthStatus, VectorFilter, VectorHit, VectorItem


class VectorStore(ABC):
    """Nearest-neighbour search over chunk embeddings. The chunk rows remain the source of truth."""

    # False for a store that reads the embeddings from the chunk rows itself: the index step
    # then skips building the VectorItems for ``upsert``.
    needs_items = True

    def __init__(self, alias: str = "default", **options):
        self.alias = alias
        self.options = options

    @abstractmethod
    def upsert(self, items: Sequence[VectorItem]) -> None:
        """Idempotent: the same chunk indexed twice is one vector (deterministic ids)."""

    @abstractmethod
    def delete_version(self, *, domain_id: int, version_id: int) -> None: ...

    @abstractmethod
    def delete_domain(self, *, domain_id: int) -> None: ...

    @abstractmethod
    def search(
        self, *, domain_ids: Sequence[int], vector: np.ndarray, k: int, filters: VectorFilter | None = None
    ) -> list[VectorHit]:
        """Top-k chunks by cosine similarity, only from ``domain_ids``."""

    @abstractmethod
    def counts(self, *, domain_id: int) -> dict[int, int]:
        """Vectors per version id, as the store sees them (reconciliation)."""

    @abstractmethod
    def health(self) -> HealthStatus: ...

    def close(self) -> None:
        """Release connections."""
