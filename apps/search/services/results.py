"""What a search returns: typed values. ``apps.search.serializers.SearchResponseSerializer`` turns
them into the API's JSON; in-process callers (the bootstrap's research, the evaluation, the
admin preview) read the attributes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DocumentRef:
    id: int
    title: str


@dataclass(frozen=True)
class VersionRef:
    id: int
    number: int
    language: str


@dataclass(frozen=True)
class ChunkHit:
    """One ranked chunk, with its highlights and each channel's rank and score."""

    chunk_id: int
    text: str
    highlighted: str
    highlights: list[list[int]]
    document: DocumentRef
    version: VersionRef
    domain: str
    ordinal: int
    start: int
    end: int
    page: int | None
    scores: dict
    score: float


@dataclass
class DocumentHit:
    """A document of the results (score: its best chunk's), or one the graph connects
    (``via`` holds "graph", ``graph_mentions`` how often it mentions the expanded entities)."""

    id: int
    title: str
    domain: str
    score: float
    chunk_ids: list[int] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    graph_mentions: int | None = None


@dataclass(frozen=True)
class EntityHit:
    id: int
    key: str
    name: str
    type: str
    domain: str
    mention_count: int
    via: str  # "mention" (in a result chunk) or "neighbour" (reached by expansion)
    hits: int


@dataclass(frozen=True)
class RelationHit:
    id: int
    source: int
    target: int
    source_name: str
    target_name: str
    type: str
    weight: float
    domain: str


@dataclass(frozen=True)
class SearchResponse:
    query: str
    mode: str
    k: int
    group: str
    expand: bool
    hops: int
    domains: list[str]
    results: list[ChunkHit]
    documents: list[DocumentHit]
    entities: list[EntityHit]
    relations: list[RelationHit]
    timings_ms: dict[str, float]
    degraded: list[str]
    degraded_detail: dict[str, str]
