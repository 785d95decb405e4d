"""The keyword channel: BM25 over the searchable chunks of each domain.

Scoring is bm25s' Lucene variant (idf = ln(1 + (N − df + .5)/(df + .5)), tf saturation
tf / (tf + k1·(1 − b + b·len/avglen))); a test checks our scores against bm25s itself.
bm25s' own index builder loops over documents in Python (seconds at 100k chunks), so
the matrix is built here with numpy from per-chunk term counts instead.

One index per domain per process (a module-level cache shared by every thread),
tagged with the domain's ``index_version``. The pipeline bumps that counter whenever a
domain's chunks change, so a stale index is never served: the next query rebuilds it.
A rebuild re-analyzes only chunks it has not seen before (term counts are kept per
chunk), then recomputes the weight matrix in one vectorized pass.

Analysis: lowercase, ``\\b\\w\\w+\\b`` tokens, English stopwords (bm25s' list), Snowball
English stemmer (PyStemmer). The document title is indexed with each of its chunks.

``keyword_search_postgres`` (PostgreSQL ``ts_rank_cd``) is kept for the comparison in
docs/search.md; the BM25 index ranked better on Cranfield and is the default.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN
from django.db import connection

from apps.search.backends.types import VectorFilter
from apps.search.backends.vectors.embedded import filter_mask, top_k
from apps.search.selectors import chunk_searchable_queryset

TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset(STOPWORDS_EN)
# BM25 parameters (Lucene variant). Chosen on Cranfield, see docs/search.md.
BM25_K1 = 1.2
BM25_B = 0.75
TITLE_WITH_EVERY_CHUNK = True

_stems: dict[str, str] = {}
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not safe to share between threads.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _stem(word: str) -> str:
    stem = _stems.get(word)
    if stem is None:
        stem = _stemmer().stemWord(word)
        if len(_stems) < 2_000_000:
            _stems[word] = stem
    return stem


def analyze(text: str) -> list[str]:
    """The terms of a text as the index sees them."""
    return [_stem(w) for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]


def highlight_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` whose analyzed form is one of ``terms``."""
    wanted = set(terms)
    if not wanted:
        return []
    spans = []
    for match in TOKEN.finditer(text):
        word = match.group().lower()
        if word not in STOPWORDS and _stem(word) in wanted:
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


@dataclass
class KeywordIndex:
    """BM25 (Lucene variant, as bm25s computes it) for one domain, term-major (CSC) for fast scoring."""
    index_version: int
    chunk_ids: np.ndarray  # (n,) int64: row order
    document_ids: np.ndarray
    languages: np.ndarray
    created: np.ndarray
    vocab: dict[str, int]
    # Per term t: rows indptr[t]:indptr[t+1] of ``rows`` / ``weights`` are its postings.
    indptr: np.ndarray
    rows: np.ndarray
    weights: np.ndarray
    # chunk id -> (title, unique term ids, their counts, token count): reused by the next rebuild.
    tokens: dict[int, tuple[str, np.ndarray, np.ndarray, int]] = field(default_factory=dict)
    build_seconds: float = 0.0

    def weighted_scores(self, term_weights: dict[int, float]) -> np.ndarray:
        """Σ over terms of weight × each chunk's BM25 weight for that term."""
        n = len(self.chunk_ids)
        out = np.zeros(n, dtype=np.float32)
        for t, w in term_weights.items():
            rows = self.rows[self.indptr[t] : self.indptr[t + 1]]
            out[rows] += np.float32(w) * self.weights[self.indptr[t] : self.indptr[t + 1]]
        return out

    def scores(self, term_ids: Sequence[int]) -> np.ndarray:
        """Σ over ``term_ids`` (a repeated id counts again) of each chunk's BM25 weight."""
        n = len(self.chunk_ids)
        if not term_ids or not n:
            return np.zeros(n, dtype=np.float32)
        parts_rows = [self.rows[self.indptr[t] : self.indptr[t + 1]] for t in term_ids]
        parts_weights = [self.weights[self.indptr[t] : self.indptr[t + 1]] for t in term_ids]
        return np.bincount(np.concatenate(parts_rows), weights=np.concatenate(parts_weights), minlength=n).astype(np.float32)


_indexes: dict[int, KeywordIndex] = {}
_build_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _domain_lock(domain_id: int) -> threading.Lock:
    with _locks_guard:
        return _build_locks.setdefault(domain_id, threading.Lock())


def _analyze_chunk(text: str, title: str, vocab: dict[str, int]) -> tuple[str, np.ndarray, np.ndarray, int]:
    terms = analyze(f"{title}\n{text}" if title else text)
    ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in terms), dtype=np.int32, count=len(terms))
    unique, counts = np.unique(ids, return_counts=True)
    return title, unique.astype(np.int32), counts.astype(np.float32), len(terms)


def bm25_matrix(per_chunk: Sequence[tuple[np.ndarray, np.ndarray, int]], n_terms: int, *, k1: float, b: float):
    """(indptr, rows, weights) of the term-major BM25 weight matrix; vectorized, no per-posting Python."""
    n = len(per_chunk)
    lengths = np.fromiter((c[2] for c in per_chunk), dtype=np.float32, count=n)
    sizes = np.fromiter((len(c[0]) for c in per_chunk), dtype=np.int64, count=n)
    terms = np.concatenate([c[0] for c in per_chunk]) if n else np.zeros(0, np.int32)
    tf = np.concatenate([c[1] for c in per_chunk]) if n else np.zeros(0, np.float32)
    rows = np.repeat(np.arange(n, dtype=np.int32), sizes)
    df = np.bincount(terms, minlength=n_terms).astype(np.float64)
    idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
    avg = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
    norm = k1 * ((1 - b) + b * lengths / avg)
    weights = idf[terms] * tf / (tf + norm[rows])
    order = np.argsort(terms, kind="stable")
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=n_terms), out=indptr[1:])
    return indptr, rows[order], weights[order].astype(np.float32)


def _build(domain_id: int, index_version: int, previous: KeywordIndex | None) -> KeywordIndex:
    started = time.perf_counter()
    rows = list(
        chunk_searchable_queryset(domain_ids=[domain_id])
        .order_by("pk")
        .values_list("pk", "document_id", "version__language", "document__created_at", "document__title")
        .iterator(chunk_size=10000)
    )
    vocab: dict[str, int] = dict(previous.vocab) if previous else {}
    cached = previous.tokens if previous else {}
    tokens: dict[int, tuple] = {}
    todo: dict[int, str] = {}
    for pk, _doc, _lang, _created, title in rows:
        title = title if TITLE_WITH_EVERY_CHUNK else ""
        hit = cached.get(pk)
        if hit is not None and hit[0] == title:
            tokens[pk] = hit
        else:
            todo[pk] = title
    if todo:
        queryset = chunk_searchable_queryset(domain_ids=[domain_id]).order_by("pk").values_list("pk", "text")
        if len(todo) < len(rows) // 2:
            ids = list(todo)
            batches = (queryset.filter(pk__in=ids[i : i + 5000]) for i in range(0, len(ids), 5000))
        else:
            batches = (queryset.iterator(chunk_size=5000),)
        for batch in batches:
            for pk, text in batch:
                if pk in todo:
                    tokens[pk] = _analyze_chunk(text, todo[pk], vocab)
    rows = [r for r in rows if r[0] in tokens]
    indptr, postings, weights = bm25_matrix([tokens[r[0]][1:] for r in rows], len(vocab), k1=BM25_K1, b=BM25_B)
    return KeywordIndex(
        index_version=index_version,
        chunk_ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        document_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        languages=np.array([r[2] or "" for r in rows], dtype=object),
        created=np.fromiter((r[3].timestamp() for r in rows), dtype=np.float64, count=len(rows)),
        vocab=vocab,
        indptr=indptr,
        rows=postings,
        weights=weights,
        tokens=tokens,
        build_seconds=time.perf_counter() - started,
    )


def keyword_index(*, domain_id: int, index_version: int) -> KeywordIndex:
    """The domain's index at ``index_version``, built (once per process) if missing or stale."""
    current = _indexes.get(domain_id)
    if current is not None and current.index_version == index_version:
        return current
    with _domain_lock(domain_id):
        current = _indexes.get(domain_id)
        if current is None or current.index_version != index_version:
            current = _indexes[domain_id] = _build(domain_id, index_version, current)
        return current


def keyword_index_forget(*, domain_id: int) -> None:
    _indexes.pop(domain_id, None)


@dataclass(frozen=True)
class KeywordHit:
    chunk_id: int
    score: float


def _rm3_scores(index: KeywordIndex, ids: list[int], scores: np.ndarray, *, docs: int, terms: int, weight: float) -> np.ndarray:
    """BM25 with RM3 pseudo-relevance feedback (Lavrenko & Croft 2001; Abdul-Jaleel et al. 2004).

    The ``docs`` best chunks of the first pass, each weighted by its share of their
    BM25 scores, vote for terms by relative frequency (count / chunk length); the
    ``terms`` best terms not in the query are added. Second pass: each original term
    weighs (1 − weight) / |query terms|, each expansion term weight × its share of the
    expansion votes.
    """
    weight = min(weight, 1.0)
    top = [int(i) for i in top_k(scores, docs) if scores[i] > 0]
    if not top:
        return scores
    first = np.array([scores[i] for i in top], dtype=np.float64)
    first /= first.sum()
    votes: dict[int, float] = {}
    for row, share in zip(top, first, strict=True):
        _title, term_ids, counts, length = index.tokens[int(index.chunk_ids[row])]
        if not length:
            continue
        for t, c in zip(term_ids.tolist(), (counts * (share / length)).tolist(), strict=True):
            votes[t] = votes.get(t, 0.0) + c
    original = set(ids)
    expansion = sorted(((v, t) for t, v in votes.items() if t not in original), reverse=True)[:terms]
    total = sum(v for v, _t in expansion)
    if not expansion or total <= 0:
        return scores
    term_weights = {t: (1 - weight) / len(original) for t in original}
    for v, t in expansion:
        term_weights[t] = weight * v / total
    return index.weighted_scores(term_weights)


def keyword_search(
    *, domains: Sequence[tuple[int, int]], query: str, k: int, filters: VectorFilter | None = None,
    feedback_docs: int = 0, feedback_terms: int = 10, feedback_weight: float = 0.3,
) -> list[KeywordHit]:
    """BM25 top-k over ``domains`` ((domain id, index version) pairs). Chunks without any query term never match.

    ``feedback_docs`` > 0 turns on RM3 pseudo-relevance feedback (``_rm3_scores``); expansion
    terms may then also match chunks without any original query term.
    """
    terms = analyze(query)
    hits: list[KeywordHit] = []
    if not terms:
        return hits
    for domain_id, index_version in domains:
        index = keyword_index(domain_id=domain_id, index_version=index_version)
        # Each distinct query term counts once: on Cranfield this ranks better than bm25s'
        # default of summing repeated terms again (docs/search.md).
        ids = [index.vocab[t] for t in dict.fromkeys(terms) if t in index.vocab]
        if not ids or not len(index.chunk_ids):
            continue
        scores = index.scores(ids)
        mask = filter_mask(index, filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        if feedback_docs > 0 and feedback_weight > 0:
            scores = _rm3_scores(index, ids, scores, docs=feedback_docs, terms=feedback_terms, weight=feedback_weight)
            if mask is not None:
                scores = np.where(mask, scores, 0.0)
        for i in top_k(scores, k):
            if scores[i] <= 0:
                break
            hits.append(KeywordHit(chunk_id=int(index.chunk_ids[i]), score=float(scores[i])))
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
