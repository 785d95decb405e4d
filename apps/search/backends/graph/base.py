from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from apps.search.backends.types import EntityDocuments, GraphContribution, HealthStatus, Subgraph


class GraphStore(ABC):
    """A projection of a domain's knowledge graph. PostgreSQL remains the source of truth."""

    # False for a store that reads the PostgreSQL graph tables itself: the graph step then
    # skips building the (costly) projection payload for ``replace_version``.
    needs_contributions = True

    def __init__(self, alias: str = "default", **options):
        self.alias = alias
        self.options = options

    @abstractmethod
    def replace_version(self, contribution: GraphContribution, *, previous_version_ids: Sequence[int] = ()) -> None:
        """Project a version's share; remove what the previous versions of its document contributed."""

    @abstractmethod
    def delete_version(self, *, domain_id: int, version_id: int) -> None: ...

    @abstractmethod
    def delete_domain(self, *, domain_id: int) -> None: ...

    @abstractmethod
    def neighbours(self, *, domain_id: int, key: str, hops: int = 1, limit: int = 50, types: Sequence[str] = ()) -> Subgraph:
        """Entities within ``hops`` of ``key``; only relations of ``types`` (RelationType values) when given."""

    @abstractmethod
    def shortest_path(self, *, domain_id: int, source_key: str, target_key: str, max_hops: int = 6) -> Subgraph | None: ...

    @abstractmethod
    def documents_for_entities(self, *, domain_id: int, keys: Sequence[str], limit: int = 50) -> list[EntityDocuments]: ...

    @abstractmethod
    def counts(self, *, domain_id: int) -> dict[int, dict[str, int]]:
        """Per version id: {"entities": n, "mentions": n} as the projection sees them (reconciliation)."""

    @abstractmethod
    def health(self) -> HealthStatus: ...

    def close(self) -> None:
        """Release connections (worker shutdown, settings change)."""
