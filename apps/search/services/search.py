"""Hybrid search: the one function the API, the evaluation and the benchmark call.

    query → embed → vector top-N (VECTOR_STORES) ∥ keyword top-N (BM25)
          → fusion (convex or RRF) → top-k chunks → documents (max chunk score)
            (group="documents": the best chunk of each of the top-k documents, the
             channels asked deeper until k distinct documents are found)
          → optional graph expansion (GRAPH_STORES) → response

Every channel is scoped to the caller's readable domains. A failing projection
(Weaviate, Neo4j, the embedder) never fails the search: the embedded adapter answers
instead, or the channel is skipped, and the response lists it under ``degraded``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from apps.core import metrics
from apps.core.backends import embedders, graph_stores, vector_stores
from apps.core.exceptions import NotFound, ServiceError
from apps.documents.models import Document
from apps.domains.models import Domain
from apps.search.backends.types import VectorFilter
from apps.search.models import Entity, EntityType, Mention
from apps.search.selectors import chunk_searchable_queryset, domain_list_readable, relations_between
from apps.search.services.expansion import expansion_seeds, graph_expand
from apps.search.services.fusion import FusedHit, convex_fuse, rrf_fuse
from apps.search.services.keyword import (
    analyze,
    highlight_html,
    highlight_spans,
    keyword_search,
    keyword_search_postgres,
)
from apps.search.services.results import (
    ChunkHit,
    DocumentHit,
    DocumentRef,
    EntityHit,
    RelationHit,
    SearchResponse,
    VersionRef,
)

logger = logging.getLogger(__name__)

MODES = ("hybrid", "vector", "keyword")
# What k counts: the k best chunks, or the k best documents (each by its best chunk).
GROUPS = ("chunks", "documents")
MAX_QUERY_CHARS = 2000
MAX_K = 100
MAX_HOPS = 3
# Candidates each channel contributes to the fusion (at least k).
CANDIDATE_DEPTH = 100
# group="documents": a channel's candidate list doubles until k distinct documents are found
# or the channels run dry, up to this many chunks (a domain whose documents average more than
# DOCUMENT_DEPTH_LIMIT / MAX_K = 20 chunks among the best matches may return fewer than k).
DOCUMENT_DEPTH_LIMIT = 2000
# Share of an expansion document's graph rank in the document ranking (same RRF form).
GRAPH_WEIGHT = 0.5
ENTITY_LIMIT = 30


@dataclass(frozen=True)
class SearchFilters:
    document_ids: tuple[int, ...] = ()
    entity_type: str = ""
    languages: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass
class _Channels:
    rankings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    degraded: dict[str, str] = field(default_factory=dict)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def search_validate(*, query: str, mode: str, k: int, hops: int, filters: SearchFilters, group: str = "chunks") -> str:
    """The stripped query, or a ServiceError (400) saying what is wrong. A ``created_after`` later
    than ``created_before`` is no error: no document lies in that range, so nothing is found."""
    query = (query or "").strip()
    if not query:
        raise ServiceError("The query is empty.", code="query_empty")
    if len(query) > MAX_QUERY_CHARS:
        raise ServiceError(f"The query is {len(query)} characters long; at most {MAX_QUERY_CHARS} are allowed.", code="query_too_long")
    if mode not in MODES:
        raise ServiceError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}.", code="invalid_mode")
    if group not in GROUPS:
        raise ServiceError(f"Unknown group {group!r}; use one of {', '.join(GROUPS)}.", code="invalid_group")
    if not 1 <= k <= MAX_K:
        raise ServiceError(f"k must be between 1 and {MAX_K} (got {k}).", code="invalid_k")
    if not 1 <= hops <= MAX_HOPS:
        raise ServiceError(f"hops must be between 1 and {MAX_HOPS} (got {hops}).", code="invalid_hops")
    if filters.entity_type and filters.entity_type not in EntityType.values:
        raise ServiceError(f"Unknown entity type {filters.entity_type!r}; use one of {', '.join(EntityType.values)}.", code="invalid_entity_type")
    return query


def _type_chunks(domain_ids: Sequence[int], entity_type: str) -> tuple[set[int], set[int]]:
    """(chunk ids, document ids) mentioning an entity of ``entity_type``."""

    rows = Mention.objects.filter(domain_id__in=list(domain_ids), entity__type=entity_type).values_list("chunk_id", "chunk__document_id")
    chunks, documents = set(), set()
    for chunk_id, document_id in rows:
        chunks.add(chunk_id)
        documents.add(document_id)
    return chunks, documents


def _embed(out: _Channels, *, query: str):
    """The query's vector, or None (the vector channel is then skipped and listed as degraded)."""
    started = time.perf_counter()
    try:
        return embedders["default"].embed_query(query)
    except Exception as exc:  # the embedder is a projection too: degrade, never fail
        logger.warning("search: embedder failed, vector channel skipped", exc_info=True)
        out.degraded["vector"] = f"embedder failed ({type(exc).__name__}); vector channel skipped"
        return None
    finally:
        out.timings["embed"] = _ms(started)


def _timed(out: _Channels, name: str, started: float) -> None:
    """Adds to the channel's time: with group="documents" a channel may be asked more than once."""
    out.timings[name] = round(out.timings.get(name, 0.0) + _ms(started), 3)


def _vector_channel(out: _Channels, *, vector, domain_ids: list[int], depth: int, vfilter: VectorFilter | None) -> None:
    started = time.perf_counter()
    store = vector_stores["default"]
    try:
        hits = store.search(domain_ids=domain_ids, vector=vector, k=depth, filters=vfilter)
    except Exception as exc:
        logger.warning("search: vector store %s failed", type(store).__name__, exc_info=True)
        fallback = vector_stores.fallback()
        if fallback is None:
            out.degraded["vector"] = f"vector store failed ({type(exc).__name__}); vector channel skipped"
            _timed(out, "vector", started)
            return
        try:
            hits = fallback.search(domain_ids=domain_ids, vector=vector, k=depth, filters=vfilter)
            out.degraded["vector"] = f"{type(store).__name__} failed ({type(exc).__name__}); answered by the embedded store"
        except Exception as exc2:
            out.degraded["vector"] = f"vector stores failed ({type(exc2).__name__}); vector channel skipped"
            _timed(out, "vector", started)
            return
    out.rankings["vector"] = [(h.chunk_id, h.score) for h in hits]
    _timed(out, "vector", started)


# "bm25" (the index in keyword.py) or "postgres" (ts_rank_cd, no filters): the evaluation compares them.
KEYWORD_RANKER = "bm25"


def _keyword_channel(out: _Channels, *, query: str, domains: list[Domain], depth: int, vfilter: VectorFilter | None) -> None:
    started = time.perf_counter()
    try:
        if KEYWORD_RANKER == "postgres":
            hits = keyword_search_postgres(domain_ids=[d.pk for d in domains], query=query, k=depth)
        else:
            hits = keyword_search(
                domains=[(d.pk, d.index_version) for d in domains], query=query, k=depth, filters=vfilter,
                feedback_docs=settings.SEARCH_KEYWORD_FEEDBACK_DOCS, feedback_terms=settings.SEARCH_KEYWORD_FEEDBACK_TERMS,
                feedback_weight=settings.SEARCH_KEYWORD_FEEDBACK_WEIGHT,
                feedback_max_chunks=settings.SEARCH_KEYWORD_FEEDBACK_MAX_CHUNKS,
            )
        out.rankings["keyword"] = [(h.chunk_id, h.score) for h in hits]
    except Exception as exc:
        logger.warning("search: keyword channel failed", exc_info=True)
        out.degraded["keyword"] = f"keyword index failed ({type(exc).__name__}); keyword channel skipped"
    _timed(out, "keyword", started)


# Hybrid search runs the keyword channel on a pool thread while the request's thread embeds the
# query and searches the vectors: tantivy, faiss and ONNX Runtime release the GIL, so the two
# overlap on a multi-core host (1M chunks: 30 → 22 ms mean for both channels, docs/search.md).
# One pool per process, made on first use: a pool made before a fork (gunicorn, Celery prefork)
# would have no threads in the child.
KEYWORD_THREADS = 4
_pool_guard = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _keyword_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_guard:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=KEYWORD_THREADS, thread_name_prefix="heysh-keyword"))
        return _pool[1]


def _keyword_start(out: _Channels, *, concurrent: bool, **kwargs) -> Future | None:
    """The keyword channel, on the pool when ``concurrent`` (its result is in ``out`` once the
    future is done), else run here (None). The PostgreSQL ranker stays on the request's thread,
    which holds the database connection."""
    if concurrent and KEYWORD_RANKER == "bm25":
        return _keyword_pool().submit(_keyword_channel, out, **kwargs)
    _keyword_channel(out, **kwargs)
    return None


def _expand(out: _Channels, *, domain_ids: list[int], chunk_ids: list[int], hops: int):
    started = time.perf_counter()
    store = graph_stores["default"]
    try:
        return graph_expand(store=store, domain_ids=domain_ids, chunk_ids=chunk_ids, hops=hops)
    except Exception as exc:
        logger.warning("search: graph store %s failed", type(store).__name__, exc_info=True)
        fallback = graph_stores.fallback()
        if fallback is not None:
            try:
                result = graph_expand(store=fallback, domain_ids=domain_ids, chunk_ids=chunk_ids, hops=hops)
                out.degraded["graph"] = f"{type(store).__name__} failed ({type(exc).__name__}); expanded with the embedded graph"
                return result
            except Exception as exc2:
                exc = exc2
        out.degraded["graph"] = f"graph expansion failed ({type(exc).__name__}); skipped"
        return None
    finally:
        out.timings["expansion"] = _ms(started)


def search_run(
    *,
    user,
    query: str,
    domains: Sequence[str] | None = None,
    mode: str = "hybrid",
    k: int = 10,
    filters: SearchFilters | None = None,
    expand: bool = False,
    hops: int = 1,
    group: str = "chunks",
) -> SearchResponse:
    """Search the caller's readable domains (or exactly ``domains``, slugs).

    ``group="chunks"``: the k best chunks (several may come from one document).
    ``group="documents"``: the k best documents, each represented by its best chunk.
    """
    total_started = time.perf_counter()
    filters = filters or SearchFilters()
    query = search_validate(query=query, mode=mode, k=k, hops=hops, filters=filters, group=group)

    try:
        scope = domain_list_readable(user=user, slugs=domains)
    except Domain.DoesNotExist as exc:
        raise NotFound(str(exc))
    domain_ids = [d.pk for d in scope]
    by_id = {d.pk: d for d in scope}
    out = _Channels()

    document_ids = set(filters.document_ids)
    type_chunks: set[int] | None = None
    if filters.entity_type and scope:
        type_chunks, type_documents = _type_chunks(domain_ids, filters.entity_type)
        document_ids = (document_ids & type_documents) if document_ids else type_documents
        if not document_ids:
            document_ids = {0}  # nothing of that type: match nothing
    vfilter = None
    if document_ids or filters.languages or filters.created_after or filters.created_before:
        vfilter = VectorFilter(
            document_ids=tuple(sorted(document_ids)), languages=filters.languages,
            created_after=filters.created_after, created_before=filters.created_before,
        )
    depth = max(k, CANDIDATE_DEPTH) if mode == "hybrid" else k
    if type_chunks is not None:
        depth = max(depth, CANDIDATE_DEPTH)
    vector = None
    embedded = False

    document_of: dict[int, int] = {}  # chunk id -> document id, searchable chunks only
    best_chunks: list[int] | None = None
    while True:
        out.rankings.clear()
        if scope:
            keyword = None
            if mode in ("hybrid", "keyword"):
                keyword = _keyword_start(
                    out, concurrent=mode == "hybrid", query=query, domains=scope, depth=depth, vfilter=vfilter
                )
            if mode in ("hybrid", "vector"):
                if not embedded:
                    vector, embedded = _embed(out, query=query), True
                if vector is not None:
                    _vector_channel(out, vector=vector, domain_ids=domain_ids, depth=depth, vfilter=vfilter)
            if keyword is not None:
                keyword.result()
        fused = _fuse(out, type_chunks=type_chunks)
        if group == "chunks":
            break
        best_chunks = _best_chunk_per_document(fused, k=k, domain_ids=domain_ids, document_of=document_of)
        # A channel that returned fewer than ``depth`` hits has nothing more to give.
        more = any(len(ranking) >= depth for ranking in out.rankings.values())
        if len(best_chunks) >= k or not more or depth >= DOCUMENT_DEPTH_LIMIT:
            break
        depth = min(depth * 2, DOCUMENT_DEPTH_LIMIT)

    started = time.perf_counter()
    if best_chunks is not None:
        chosen = set(best_chunks)
        fused = [h for h in fused if h.chunk_id in chosen]
    results, chunk_rows = _hydrate(fused, k=k, domain_ids=domain_ids, by_id=by_id, terms=analyze(query))
    out.timings["hydrate"] = _ms(started)

    expansion = None
    if expand and results:
        expansion = _expand(out, domain_ids=domain_ids, chunk_ids=[r.chunk_id for r in results], hops=hops)

    started = time.perf_counter()
    documents = _documents(results, expansion, by_id=by_id, filters=filters, document_filter=document_ids, rrf_k=settings.SEARCH_RRF_K)
    entities, relations = _entities(results, expansion, domain_ids=domain_ids, by_id=by_id)
    out.timings["graph_context"] = _ms(started)
    out.timings["total"] = _ms(total_started)

    metrics.heysh_search_latency_seconds.labels(mode=mode).observe(out.timings["total"] / 1000)
    metrics.heysh_search_results.labels(mode=mode).observe(len(results))
    return SearchResponse(
        query=query, mode=mode, k=k, group=group, expand=expand, hops=hops, domains=[d.slug for d in scope], results=results,
        documents=documents, entities=entities, relations=relations, timings_ms=out.timings,
        degraded=sorted(out.degraded), degraded_detail=out.degraded,
    )


def _fuse(out: _Channels, *, type_chunks: set[int] | None) -> list[FusedHit]:
    started = time.perf_counter()
    weights = {"vector": settings.SEARCH_VECTOR_WEIGHT, "keyword": settings.SEARCH_KEYWORD_WEIGHT}
    if settings.SEARCH_FUSION == "rrf":
        fused = rrf_fuse(out.rankings, weights=weights, k=settings.SEARCH_RRF_K)
    else:
        fused = convex_fuse(out.rankings, weights=weights)
    if type_chunks is not None:
        fused = [h for h in fused if h.chunk_id in type_chunks]
    _timed(out, "fusion", started)
    return fused


def _best_chunk_per_document(fused: list[FusedHit], *, k: int, domain_ids, document_of: dict[int, int]) -> list[int]:
    """The first (best) searchable chunk of each document in ``fused`` order, for at most k documents.

    ``document_of`` caches chunk → document across deeper attempts; a chunk not searchable
    (deleted, replaced, out of scope since the index was built) is never in it, and is skipped.
    """
    unknown = [h.chunk_id for h in fused if h.chunk_id not in document_of]
    if unknown:
        found = dict(chunk_searchable_queryset(domain_ids=domain_ids).filter(pk__in=unknown).values_list("pk", "document_id"))
        # 0 (no document's id) marks a chunk that is not searchable, so it is not asked for again.
        document_of.update({chunk_id: found.get(chunk_id, 0) for chunk_id in unknown})
    seen: set[int] = set()
    best: list[int] = []
    for hit in fused:
        document_id = document_of[hit.chunk_id]
        if not document_id or document_id in seen:
            continue
        seen.add(document_id)
        best.append(hit.chunk_id)
        if len(best) >= k:
            break
    return best


def _hydrate(fused: list[FusedHit], *, k: int, domain_ids, by_id, terms) -> tuple[list[ChunkHit], dict]:
    """Load the top chunks; anything deleted, replaced or out of scope since the index was built is dropped."""

    wanted = [h.chunk_id for h in fused[: k * 2]]
    rows = {
        c.pk: c
        for c in chunk_searchable_queryset(domain_ids=domain_ids)
        .filter(pk__in=wanted)
        .select_related("document", "version")
        .order_by()  # the caller's order is the fused one: Chunk's Meta ordering would join and sort
        .only(
            "pk", "text", "start", "end", "page", "ordinal", "domain_id", "document_id", "version_id",
            "document__title", "document__domain_id", "version__number", "version__language",
        )
    }
    results = []
    for hit in fused:
        chunk = rows.get(hit.chunk_id)
        if chunk is None:
            continue
        spans = highlight_spans(chunk.text, terms)
        results.append(ChunkHit(
            chunk_id=chunk.pk,
            text=chunk.text,
            highlighted=highlight_html(chunk.text, spans),
            highlights=[list(s) for s in spans],
            document=DocumentRef(id=chunk.document_id, title=chunk.document.title),
            version=VersionRef(id=chunk.version_id, number=chunk.version.number, language=chunk.version.language),
            domain=by_id[chunk.domain_id].slug,
            ordinal=chunk.ordinal,
            start=chunk.start,
            end=chunk.end,
            page=chunk.page,
            scores={
                "fused": round(hit.score, 6),
                **{name: {"rank": rank, "score": round(score, 6)} for name, (rank, score) in hit.channels.items()},
            },
            score=round(hit.score, 6),
        ))
        if len(results) >= k:
            break
    return results, rows


def _documents(results, expansion, *, by_id, filters: SearchFilters, document_filter: set[int], rrf_k: int) -> list[DocumentHit]:
    """Documents of the results (score: their best chunk's), then those the graph connects."""

    documents: dict[int, DocumentHit] = {}
    for r in results:
        doc = documents.get(r.document.id)
        if doc is None:
            documents[r.document.id] = DocumentHit(
                id=r.document.id, title=r.document.title, domain=r.domain, score=r.score, chunk_ids=[r.chunk_id], via=["search"],
            )
        else:
            doc.chunk_ids.append(r.chunk_id)
    if expansion is not None and expansion.documents:
        ids = [doc_id for _domain, doc_id, _n in expansion.documents]
        queryset = Document.objects.filter(pk__in=ids, domain_id__in=list(by_id))
        if document_filter:
            queryset = queryset.filter(pk__in=document_filter)
        if filters.languages:
            queryset = queryset.filter(current_version__language__in=filters.languages)
        if filters.created_after:
            queryset = queryset.filter(created_at__gte=filters.created_after)
        if filters.created_before:
            queryset = queryset.filter(created_at__lte=filters.created_before)
        visible = {d.pk: d for d in queryset.only("pk", "title", "domain_id")}
        rank = 0
        for _domain, doc_id, mentions in expansion.documents:
            document = visible.get(doc_id)
            if document is None:
                continue
            rank += 1
            share = GRAPH_WEIGHT / (rrf_k + rank)
            entry = documents.get(doc_id)
            if entry is None:
                entry = documents[doc_id] = DocumentHit(
                    id=doc_id, title=document.title, domain=by_id[document.domain_id].slug, score=0.0,
                )
            entry.score = round(entry.score + share, 6)
            entry.via.append("graph")
            entry.graph_mentions = mentions
    return sorted(documents.values(), key=lambda d: (-d.score, d.id))


def _entities(results, expansion, *, domain_ids, by_id) -> tuple[list[EntityHit], list[RelationHit]]:
    """Entities mentioned in the results (and, when expanded, their neighbours) and the relations among them."""

    if not results:
        return [], []
    seeds = expansion.seeds if expansion is not None else expansion_seeds(
        domain_ids=domain_ids, chunk_ids=[r.chunk_id for r in results], limit=ENTITY_LIMIT
    )
    wanted: dict[tuple[int, str], str] = {key: "mention" for key in seeds}
    if expansion is not None:
        for key in expansion.neighbours[:ENTITY_LIMIT]:
            wanted.setdefault(key, "neighbour")
    if not wanted:
        return [], []
    rows = {}
    for domain_id in {d for d, _ in wanted}:
        keys = [key for d, key in wanted if d == domain_id]
        for e in Entity.objects.filter(domain_id=domain_id, key__in=keys).only("pk", "key", "name", "type", "domain_id", "mention_count"):
            rows[(domain_id, e.key)] = e
    entities = []
    for marker, via in wanted.items():
        e = rows.get(marker)
        if e is None:
            continue
        entities.append(EntityHit(
            id=e.pk, key=e.key, name=e.name, type=e.type, domain=by_id[e.domain_id].slug,
            mention_count=e.mention_count, via=via, hits=seeds.get(marker, 0),
        ))
    relations = [
        RelationHit(
            id=rel.pk, source=rel.source_id, target=rel.target_id, source_name=rel.source.name,
            target_name=rel.target.name, type=rel.type, weight=rel.weight, domain=by_id[rel.domain_id].slug,
        )
        for rel in relations_between(domain_ids=domain_ids, entity_ids=[e.id for e in entities])
    ]
    return entities, relations
