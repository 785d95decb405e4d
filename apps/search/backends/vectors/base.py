from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from apps.search.backends.types import HealthStatus, VectorFilter, VectorHit, VectorItem


class VectorStore(ABC):
    """Nearest-neighbour search over chunk embeddings. The chunk rows remain the source of truth."""

    def __init__(self, alias: str = "default", **options):
        self.alias = alias
        self.options = options

    @abstractmethod
    def upsert(self, items: Sequence[VectorItem]) -> None:
        """Idempotent: the same chunk indexed twice is one vector (deterministic ids)."""

    @abstractmethod
    def delete_version(self, *, domain_id: int, version_id: int) -> None: ...

    def publish(self, *, domain_id: int, items: Sequence[VectorItem], delete_version_ids: Sequence[int] = ()) -> None:
        """The index step's write: ``items`` in, the listed versions' other vectors out (a store
        that can, such as the embedded engine, does it as one commit)."""
        if items:
            self.upsert(items)
        keep = {item.version_id for item in items}
        for version_id in delete_version_ids:
            if version_id not in keep:
                self.delete_version(domain_id=domain_id, version_id=version_id)

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
