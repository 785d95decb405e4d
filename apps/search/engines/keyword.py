"""The keyword engine: BM25 on tantivy, one persistent index per domain under ``SEARCH_INDEX_DIR/keyword``.

Chunks are indexed pre-analyzed (``analysis.analyze`` of the title and the chunk text,
joined by spaces, on tantivy's whitespace tokenizer with term frequencies), so tantivy's
BM25 (k1 = 1.2, b = 0.75, idf = ln(1 + (N − df + .5)/(df + .5)), the Lucene variant) scores
today's terms. tantivy multiplies every weight by (1 + k1); scores are divided back, so
they equal bm25s' "lucene" scores (a test checks it).

Writes (``KeywordEngine.write``) take the domain's writer lock, delete by version or chunk
id, add, and commit: one commit is one new segment, merged in the background by tantivy.
Readers keep the index open and reload when ``meta.json`` changed (another process
committed): new segments are opened, nothing is rebuilt. Domain scope is the index itself;
document, language and creation filters are clauses of the engine query.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy

from apps.documents.models import Chunk
from apps.search.backends.types import HealthStatus, VectorFilter
from apps.search.engines.files import DomainIndexFiles, IndexCorrupt, mtime_ns, writer_lock

logger = logging.getLogger(__name__)

ENGINE = "keyword"
BM25_K1 = 1.2  # tantivy's constants; chosen on Cranfield with the same values (docs/search.md)
WRITER_HEAP_BYTES = 50_000_000


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("chunk_id", stored=True, indexed=True, fast=True)
    builder.add_unsigned_field("document_id", indexed=True, fast=True)
    builder.add_unsigned_field("version_id", stored=True, indexed=True, fast=True)
    builder.add_text_field("language", tokenizer_name="raw")
    builder.add_float_field("created", indexed=True, fast=True)
    builder.add_text_field("terms", stored=True, tokenizer_name="whitespace", index_option="freq")
    return builder.build()


SCHEMA = _schema()


@dataclass(frozen=True)
class KeywordEntry:
    """One chunk as the keyword engine indexes it."""

    chunk_id: int
    document_id: int
    version_id: int
    language: str
    created: float  # epoch seconds of the document
    terms: tuple[str, ...]  # analyzed title + text


@dataclass
class _Reader:
    index: tantivy.Index
    inode: int
    meta_mtime: int


_readers: dict[int, _Reader] = {}
_readers_guard = threading.Lock()


def _meta(path: Path) -> Path:
    return path / "meta.json"


def _open(path: Path) -> tantivy.Index:
    try:
        index = tantivy.Index.open(str(path))
        index.config_reader("Manual")
        index.searcher()  # opens every segment: a truncated or foreign file fails here, not mid-query
    except ValueError as exc:
        raise IndexCorrupt(f"keyword index {path}: {exc}") from exc
    return index


def _for_write(path: Path) -> tantivy.Index:
    """The index to write to, created if missing; an unreadable one is wiped and started over
    (logged): the database holds every chunk, and reconcile re-projects what was lost."""
    if _meta(path).exists():
        try:
            return _open(path)
        except IndexCorrupt:
            logger.warning(
                "keyword index %s is unreadable: starting it over; reconcile restores its chunks", path, exc_info=True
            )
            shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return tantivy.Index(SCHEMA, path=str(path), reuse=False)


def _document(entry: KeywordEntry) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_unsigned("chunk_id", entry.chunk_id)
    doc.add_unsigned("document_id", entry.document_id)
    doc.add_unsigned("version_id", entry.version_id)
    doc.add_text("language", entry.language or "")
    doc.add_float("created", float(entry.created))
    doc.add_text("terms", " ".join(entry.terms))
    return doc


def _term_set(field: str, values: Iterable) -> tantivy.Query:
    return tantivy.Query.term_set_query(SCHEMA, field, list(values))


def filter_query(filters: VectorFilter | None) -> tantivy.Query | None:
    """The filters as one zero-scoring clause, or None."""
    if filters is None:
        return None
    clauses = []
    if filters.document_ids:
        clauses.append(_term_set("document_id", [int(i) for i in filters.document_ids]))
    if filters.languages:
        clauses.append(_term_set("language", list(filters.languages)))
    if filters.created_after is not None or filters.created_before is not None:
        clauses.append(
            tantivy.Query.range_query(
                SCHEMA,
                "created",
                tantivy.FieldType.Float,
                filters.created_after.timestamp() if filters.created_after else None,
                filters.created_before.timestamp() if filters.created_before else None,
            )
        )
    if not clauses:
        return None
    both = clauses[0] if len(clauses) == 1 else tantivy.Query.boolean_query([(tantivy.Occur.Must, c) for c in clauses])
    return tantivy.Query.const_score_query(both, 0.0)


def weighted_query(term_weights: dict[str, float], filters: VectorFilter | None) -> tantivy.Query:
    """Σ weight × BM25(term), over chunks holding at least one of the terms and passing the filters."""
    should = []
    for term, weight in term_weights.items():
        query = tantivy.Query.term_query(SCHEMA, "terms", term, index_option="freq")
        should.append((tantivy.Occur.Should, query if weight == 1.0 else tantivy.Query.boost_query(query, weight)))
    query = tantivy.Query.boolean_query(should)
    restrict = filter_query(filters)
    if restrict is not None:
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, restrict)])
    return query


class KeywordEngine(DomainIndexFiles):
    """The keyword indexes of every domain (cheap to build: state lives in the files and ``_readers``)."""

    engine = ENGINE

    # --- writes -----------------------------------------------------------------
    def write(
        self,
        *,
        domain_id: int,
        add: Sequence[KeywordEntry] = (),
        delete_versions: Iterable[int] = (),
        delete_chunks: Iterable[int] = (),
    ) -> None:
        """Delete, then add, in one commit under the domain's writer lock (an entry re-added
        after its version is deleted in the same call survives: tantivy orders by opstamp)."""
        delete_versions, delete_chunks = list(delete_versions), list(delete_chunks)
        if not add and (not (delete_versions or delete_chunks) or not mtime_ns(_meta(self.path(domain_id)))):
            return  # nothing to write, or only deletes from an index that does not exist
        with writer_lock(self.lock_path(domain_id)):
            writer = _for_write(self.path(domain_id)).writer(WRITER_HEAP_BYTES, 1)
            try:
                # By query: delete_documents_by_term takes a Python int as an i64 term, which never
                # matches these u64 fields.
                if delete_versions:
                    writer.delete_documents_by_query(_term_set("version_id", [int(v) for v in delete_versions]))
                if delete_chunks:
                    writer.delete_documents_by_query(_term_set("chunk_id", [int(c) for c in delete_chunks]))
                for entry in add:
                    writer.add_document(_document(entry))
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            writer.wait_merging_threads()

    def delete_version(self, *, domain_id: int, version_id: int) -> None:
        self.write(domain_id=domain_id, delete_versions=[version_id])

    def delete_domain(self, *, domain_id: int) -> None:
        with writer_lock(self.lock_path(domain_id)):
            shutil.rmtree(self.path(domain_id), ignore_errors=True)
        with _readers_guard:
            _readers.pop(domain_id, None)

    # --- reads ------------------------------------------------------------------
    def _reader(self, domain_id: int) -> tantivy.Index | None:
        """The open index, reloaded when another process committed; None when the domain has none yet."""
        path = self.path(domain_id)
        mtime = mtime_ns(_meta(path))
        if not mtime:
            return None
        inode = path.stat().st_ino
        with _readers_guard:
            reader = _readers.get(domain_id)
            if reader is None or reader.inode != inode:
                reader = _readers[domain_id] = _Reader(index=_open(path), inode=inode, meta_mtime=mtime)
            elif reader.meta_mtime != mtime:
                try:
                    reader.index.reload()
                except ValueError as exc:
                    _readers.pop(domain_id, None)
                    raise IndexCorrupt(f"keyword index {path}: {exc}") from exc
                reader.meta_mtime = mtime
            return reader.index

    def search(
        self,
        *,
        domain_id: int,
        terms: Sequence[str],
        k: int,
        filters: VectorFilter | None = None,
        feedback_docs: int = 0,
        feedback_terms: int = 10,
        feedback_weight: float = 0.3,
        feedback_max_chunks: int = 0,
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) best first. Each distinct term counts once: on Cranfield this
        ranks better than summing repeated terms again (docs/search.md).

        ``feedback_docs`` > 0 adds RM3 pseudo-relevance feedback (Lavrenko & Croft 2001): the
        ``feedback_docs`` best chunks, each weighted by its share of their scores, vote for terms
        by relative frequency; the ``feedback_terms`` best terms not in the query are added with
        ``feedback_weight`` of the query's weight (the original terms share the rest).

        ``feedback_max_chunks`` > 0: no feedback on an index of more chunks. The expansion terms
        are the frequent words of the best chunks, whose postings grow with the index: at a
        million chunks the second query cost twice the first (16 → 44 ms mean, docs/search.md)."""
        index = self._reader(domain_id)
        if index is None:
            return []
        searcher = index.searcher()
        if feedback_max_chunks and searcher.num_docs > feedback_max_chunks:
            feedback_docs = 0
        original = [t for t in dict.fromkeys(terms) if searcher.doc_freq("terms", t) > 0]
        if not original:
            return []
        first = searcher.search(
            weighted_query(dict.fromkeys(original, 1.0), filters), limit=max(k, feedback_docs), count=False
        ).hits
        weights = self._feedback(
            searcher, original, first, docs=feedback_docs, terms=feedback_terms, weight=feedback_weight
        )
        hits = (
            first[:k]
            if weights is None
            else searcher.search(weighted_query(weights, filters), limit=k, count=False).hits
        )
        if not hits:
            return []
        chunk_ids = searcher.fast_field_values("chunk_id", [address for _, address in hits])
        return [
            (int(c), float(score) / (1 + BM25_K1)) for (score, _), c in zip(hits, chunk_ids, strict=True) if score > 0
        ]

    @staticmethod
    def _feedback(
        searcher, original: list[str], first, *, docs: int, terms: int, weight: float
    ) -> dict[str, float] | None:
        weight = min(weight, 1.0)
        top = [(score, address) for score, address in first[:docs] if score > 0]
        if docs <= 0 or weight <= 0 or not top:
            return None
        total_score = sum(score for score, _ in top)
        votes: Counter[str] = Counter()
        for score, address in top:
            chunk_terms = (searcher.doc(address).get_first("terms") or "").split()
            if not chunk_terms:
                continue
            share = score / total_score / len(chunk_terms)
            for term, count in Counter(chunk_terms).items():
                votes[term] += count * share
        wanted = set(original)
        expansion = sorted(((v, t) for t, v in votes.items() if t not in wanted), reverse=True)[:terms]
        expansion_total = sum(v for v, _ in expansion)
        if not expansion or expansion_total <= 0:
            return None
        weights = {t: (1 - weight) / len(original) for t in original}
        weights.update({t: weight * v / expansion_total for v, t in expansion})
        return weights

    # --- reconciliation and health ---------------------------------------------------
    def version_members(self, *, domain_id: int) -> dict[int, set[str]]:
        """Chunk ids per version id, as the index holds them."""
        index = self._reader(domain_id)
        members: dict[int, set[str]] = {}
        if index is None:
            return members
        searcher = index.searcher()
        if not searcher.num_docs:
            return members
        hits = searcher.search(tantivy.Query.all_query(), limit=searcher.num_docs, count=False).hits
        addresses = [address for _, address in hits]
        for version_id, chunk_id in zip(
            searcher.fast_field_values("version_id", addresses),
            searcher.fast_field_values("chunk_id", addresses),
            strict=True,
        ):
            members.setdefault(int(version_id), set()).add(str(int(chunk_id)))
        return members

    def counts(self, *, domain_id: int) -> dict[int, int]:
        return {v: len(m) for v, m in self.version_members(domain_id=domain_id).items()}

    def health(self, *, domain_ids: Iterable[int] | None = None) -> HealthStatus:
        """Every listed domain's index (by default: every domain that has chunks) opens and reads;
        a missing or unreadable one is named."""
        if domain_ids is None:
            domain_ids = Chunk.objects.order_by("domain_id").values_list("domain_id", flat=True).distinct()
        missing, corrupt, chunks = [], [], 0
        for domain_id in domain_ids:
            try:
                index = self._reader(domain_id)
            except IndexCorrupt:
                corrupt.append(domain_id)
                continue
            if index is None:
                missing.append(domain_id)
            else:
                chunks += index.searcher().num_docs
        problems = []
        if corrupt:
            problems.append(f"unreadable index for domain(s) {corrupt}")
        if missing:
            problems.append(f"no index for domain(s) {missing}")
        if problems:
            return HealthStatus(
                ok=False,
                detail="; ".join(problems) + ": run rebuild_projections --backend keyword",
                extra={"missing": missing, "corrupt": corrupt},
            )
        return HealthStatus(ok=True, detail=f"tantivy ({chunks} chunks)", extra={"chunks": chunks})


keyword_engine = KeywordEngine()


def keyword_index_check() -> str:
    """Readiness: the keyword indexes of every domain with chunks open and read."""
    status = keyword_engine.health()
    if not status.ok:
        raise RuntimeError(status.detail)
    return status.detail
