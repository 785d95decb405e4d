"""Search and graph services. Import from here; the modules are split by stage."""

from apps.search.services.graph import entity_documents, entity_neighbours, entity_shortest_path
from apps.search.services.search import GROUPS, MAX_HOPS, MAX_K, MAX_QUERY_CHARS, MODES, SearchFilters, search_run

__all__ = [
    "GROUPS",
    "MAX_HOPS",
    "MAX_K",
    "MAX_QUERY_CHARS",
    "MODES",
    "SearchFilters",
    "entity_documents",
    "entity_neighbours",
    "entity_shortest_path",
    "search_run",
]
