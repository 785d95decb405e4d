"""The keyword channel: BM25 over the searchable chunks of each domain, on the keyword engine.

The index is ``apps.search.engines.keyword`` (tantivy, persistent, shared by every
process); this module turns a query into its terms, asks the engine per domain, and
highlights. Analysis (``apps.search.engines.analysis``): lowercase, ``\\b\\w\\w+\\b``
tokens, English stopwords, Snowball English stemmer; the document title is indexed with
each of its chunks.

``keyword_search_postgres`` (PostgreSQL ``ts_rank_cd``) is kept for the comparison in
docs/search.md; BM25 ranked better on Cranfield and is the default.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection

from apps.search.backends.types import VectorFilter
from apps.search.engines.analysis import STOPWORDS, TOKEN, analyze, stem
from apps.search.engines.keyword import keyword_engine
from apps.search.selectors import chunk_searchable_queryset

__all__ = ["STOPWORDS", "TOKEN", "KeywordHit", "analyze", "highlight_html", "highlight_spans", "keyword_search"]


def highlight_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` whose analyzed form is one of ``terms``."""
    wanted = set(terms)
    if not wanted:
        return []
    spans = []
    for match in TOKEN.finditer(text):
        word = match.group().lower()
        if word not in STOPWORDS and stem(word) in wanted:
            spans.append((match.start(), match.end()))
    return spans


def highlight_html(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """The text, HTML-escaped, with each span wrapped in <mark>."""
    out, cursor = [], 0
    for start, end in spans:
        out.append(html.escape(text[cursor:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


@dataclass(frozen=True)
class KeywordHit:
    chunk_id: int
    score: float


def keyword_search(
    *,
    domains: Sequence[tuple[int, int]],
    query: str,
    k: int,
    filters: VectorFilter | None = None,
    feedback_docs: int = 0,
    feedback_terms: int = 10,
    feedback_weight: float = 0.3,
    feedback_max_chunks: int = 0,
) -> list[KeywordHit]:
    """BM25 top-k over ``domains`` ((domain id, index version) pairs). Chunks without any query term never match.

    ``feedback_docs`` > 0 turns on RM3 pseudo-relevance feedback (``KeywordEngine.search``);
    expansion terms may then also match chunks without any original query term; not on a domain
    of more than ``feedback_max_chunks`` chunks (when > 0).
    """
    terms = analyze(query)
    hits: list[KeywordHit] = []
    if not terms:
        return hits
    for domain_id, _index_version in domains:
        found = keyword_engine.search(
            domain_id=domain_id,
            terms=terms,
            k=k,
            filters=filters,
            feedback_docs=feedback_docs,
            feedback_terms=feedback_terms,
            feedback_weight=feedback_weight,
            feedback_max_chunks=feedback_max_chunks,
        )
        hits.extend(KeywordHit(chunk_id=chunk_id, score=score) for chunk_id, score in found)
    hits.sort(key=lambda h: -h.score)
    return hits[:k]


def keyword_search_postgres(
    *, domain_ids: Sequence[int], query: str, k: int, normalization: int = 0
) -> list[KeywordHit]:
    """PostgreSQL full-text ranking (``ts_rank_cd``, terms OR-ed), for comparison only: no filters, no index."""
    words = [w for w in TOKEN.findall(query.lower()) if w not in STOPWORDS]
    if not words or connection.vendor != "postgresql":
        return []
    tsquery = " | ".join(dict.fromkeys(words))
    base = chunk_searchable_queryset(domain_ids=domain_ids).values("pk")
    sql, params = base.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.id, ts_rank_cd(v.doc, q, %s) AS rank
            FROM documents_chunk c
            JOIN documents_document d ON d.id = c.document_id
            CROSS JOIN LATERAL (SELECT to_tsvector('english', d.title || ' ' || c.text) AS doc) v
            CROSS JOIN to_tsquery('english', %s) q
            WHERE c.id IN ({sql}) AND v.doc @@ q
            ORDER BY rank DESC, c.id LIMIT %s
            """,
            [normalization, tsquery, *params, k],
        )
        return [KeywordHit(chunk_id=pk, score=float(score)) for pk, score in cursor.fetchall()]
