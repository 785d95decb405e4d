"""The vector engine: faiss, one persistent index per domain under ``SEARCH_INDEX_DIR/vectors``.

A domain's index is a **generation**: a directory ``g<n>/`` named by ``meta.json``, which a
writer replaces atomically (tmp + rename) once every file of the new generation is written.
A generation has two parts:

- the **base**: a faiss index (``base.faiss``, ``IndexIDMap2`` keyed by chunk id over
  ``IndexHNSWFlat`` on inner product when it holds ``SEARCH_ANN_MIN_VECTORS`` vectors or more,
  over an exact ``IndexFlatIP`` below) with its side-table (``base-rows.npy``: chunk, document,
  version, language code and creation time per row, aligned with the index's internal
  positions) — immutable, hard-linked from one generation to the next;
- the **delta**: the vectors added since the base was built (``delta-vectors.npy`` and
  ``delta-rows.npy``, at most ``DELTA_MAX`` rows, searched exactly), and the base's live-row
  mask (``base-live.npy``): faiss' HNSW cannot remove ids, so a deleted base row is a
  tombstone, filtered out with an ``IDSelectorBitmap`` inside the search.

A commit (``VectorEngine.write``, under the domain's ``flock`` writer lock) rewrites the delta
and the mask only; when the delta outgrows ``DELTA_MAX`` it is merged into the base (added to
the HNSW graph, or the base rebuilt when a third of it is tombstones or it crosses the ANN
threshold). Vectors are L2-normalised, so inner product is cosine similarity.

Readers open the base with ``IO_FLAG_MMAP_IFC`` (the vectors stay in the page cache, shared by
every process) and the side-tables with ``np.load(mmap_mode="r")``; they reload when
``meta.json`` changed, keeping the base they already opened when the generation shares it.
No database read on the query path. Filters (documents, languages, creation dates) become a
bitmap over the base's rows given to faiss as its ``IDSelector``; a filter that leaves few
rows is answered by an exact scan of those rows, so it returns k hits whenever k exist.

The index holds one embedding model (``meta.json`` ``model``): items of another model are not
added; reconcile rebuilds the index when the database's majority model changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings

from apps.search.backends.types import HealthStatus, VectorFilter
from apps.search.engines.files import DomainIndexFiles, IndexCorrupt, mtime_ns, writer_lock

logger = logging.getLogger(__name__)

ENGINE = "vectors"
DELTA_MAX = 4096  # rows searched exactly beside the base before they are merged into it
REBUILD_DEAD_SHARE = 1 / 3  # tombstones share of the base that makes a merge rebuild it
FILTER_ANN_MIN_SHARE = 0.05  # below this share of allowed rows, a filtered search scans them exactly
ROW = np.dtype([("chunk", "<i8"), ("document", "<i8"), ("version", "<i8"), ("language", "<i2"), ("created", "<f8")])
READ_FLAGS = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY

# One thread per query: faiss parallelises over queries, and idle OpenMP threads spinning
# after a call starve the embedder's threads (as OpenBLAS' did, docs/search.md). Builds use
# every core (``_omp_threads``).
faiss.omp_set_num_threads(1)


@contextlib.contextmanager
def _omp_threads(n: int) -> Iterator[None]:
    faiss.omp_set_num_threads(max(1, n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class VectorEntry:
    """One chunk's vector as the engine indexes it."""

    chunk_id: int
    document_id: int
    version_id: int
    language: str
    created: float  # epoch seconds of the document
    vector: np.ndarray  # float32 (d,)
    model: str = ""


@dataclass
class _Base:
    """An opened, immutable base: the faiss index and its side-table."""

    key: str  # the generation that built it
    kind: str  # "flat", "hnsw" or "none"
    index: faiss.Index | None  # the inner index (internal positions = rows)
    rows: np.ndarray  # ROW, aligned with the inner index
    owner: faiss.Index | None = None  # the IndexIDMap2 that owns ``index``: kept alive with it
    _by_document: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def storage(self) -> faiss.Index | None:
        """The flat vectors (exact scans and reconstruction)."""
        if self.index is None:
            return None
        return faiss.downcast_index(self.index.storage) if self.kind == "hnsw" else self.index

    def positions_of_documents(self, document_ids: Sequence[int]) -> np.ndarray:
        """Rows of the given documents, through a document-sorted order built once per base."""
        if self._by_document is None:
            order = np.argsort(self.rows["document"], kind="stable")
            self._by_document = (order, self.rows["document"][order])
        order, sorted_docs = self._by_document
        ids = np.asarray(sorted(set(document_ids)), dtype=np.int64)
        left, right = np.searchsorted(sorted_docs, ids, "left"), np.searchsorted(sorted_docs, ids, "right")
        parts = [order[a:b] for a, b in zip(left, right, strict=True) if b > a]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


@dataclass
class _State:
    """One generation as a process sees it."""

    generation: int
    meta: dict
    base: _Base
    live: np.ndarray  # bool over base rows
    delta_rows: np.ndarray  # ROW
    delta_vectors: np.ndarray  # float32 (m, d)
    meta_stamp: tuple[int, int] = (0, 0)  # (inode, mtime) of meta.json: replaced by every commit
    inode: int = 0  # of the domain's directory: a new one when the index was started over
    languages: dict[str, int] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.meta.get("model", "")

    @property
    def dim(self) -> int:
        return int(self.meta.get("dim", 0))

    def live_rows(self) -> np.ndarray:
        return np.concatenate([self.base.rows[self.live], self.delta_rows]) if len(self.base.rows) else self.delta_rows


_readers: dict[int, _State] = {}
_readers_guard = threading.Lock()


def _meta_path(path: Path) -> Path:
    return path / "meta.json"


def _stamp(meta_file: Path) -> tuple[int, int]:
    """Changes with every commit: a commit renames a new file over meta.json (new inode), and file
    times alone are as coarse as the kernel's tick."""
    try:
        stat = meta_file.stat()
    except FileNotFoundError:
        return (0, 0)
    return (stat.st_ino, stat.st_mtime_ns)


def _empty_base() -> _Base:
    return _Base(key="", kind="none", index=None, rows=np.empty(0, dtype=ROW))


MADV_WILLNEED = 3
MADV_POPULATE_READ = 22  # Linux 5.14+: fault the range in (page cache and page tables) in one call


def _prefault(path: Path) -> None:
    """Ask the kernel to map every page of this process's mappings of ``path`` (the mmapped base).

    A search visits a few thousand vectors scattered over the whole file; each first touch of a
    page is a fault (a disk read when the page is not cached), which at a million vectors made
    HNSW searches fault-bound. Mapping the file once when a base is opened moves that cost to
    the open. The pages stay the page cache's (shared by every process), not anonymous memory.
    Best effort: an older kernel gets the readahead hint only; a failure is logged, never raised."""
    try:
        inode = os.stat(path).st_ino
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/self/maps") as maps:
            ranges = []
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and int(fields[4]) == inode and fields[5] == str(path):
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    ranges.append((start, end - start))
        for start, length in ranges:
            if libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(length), MADV_POPULATE_READ) != 0:
                libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(length), MADV_WILLNEED)
    except (OSError, ValueError, AttributeError):
        logger.warning("vector index %s: could not prefault the mapping", path, exc_info=True)


def _load_base(gen_dir: Path, meta: dict) -> _Base:
    kind = meta.get("kind", "none")
    if kind == "none":
        return _empty_base()
    wrapped = faiss.read_index(str(gen_dir / "base.faiss"), READ_FLAGS)
    _prefault((gen_dir / "base.faiss").resolve())
    index = faiss.downcast_index(faiss.downcast_index(wrapped).index)
    rows = np.load(gen_dir / "base-rows.npy", mmap_mode="r")
    if rows.dtype != ROW or len(rows) != index.ntotal or index.d != int(meta.get("dim", 0)):
        raise IndexCorrupt(f"vector index {gen_dir}: base side-table does not match the index")
    return _Base(key=meta["base"], kind=kind, index=index, rows=rows, owner=wrapped)


def _load(path: Path, previous: _State | None) -> _State:
    """The generation ``meta.json`` names; a writer may replace it meanwhile (then read the next)."""
    for attempt in range(5):
        meta_file = _meta_path(path)
        stamp = _stamp(meta_file)
        try:
            meta = json.loads(meta_file.read_text())
            generation = int(meta["generation"])
            gen_dir = path / f"g{generation}"
            if previous is not None and previous.base.key == meta.get("base") and previous.base.kind == meta.get("kind"):
                base = previous.base  # the same immutable base: keep the pages and the graph already open
            else:
                base = _load_base(gen_dir, meta)
            live = np.load(gen_dir / "base-live.npy") if base.kind != "none" else np.ones(0, dtype=bool)
            delta_rows = np.load(gen_dir / "delta-rows.npy")
            delta_vectors = np.load(gen_dir / "delta-vectors.npy")
        except FileNotFoundError as exc:
            if not meta_file.exists():
                raise  # the index was deleted
            if attempt == 4:
                raise IndexCorrupt(f"vector index {path}: {exc}") from exc
            continue  # the generation was replaced and removed between reading meta.json and its files
        except IndexCorrupt:
            raise
        except (ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
            raise IndexCorrupt(f"vector index {path}: {exc}") from exc
        dim = int(meta.get("dim", 0))
        if (
            live.shape != (len(base.rows),)
            or delta_rows.dtype != ROW
            or delta_vectors.shape not in ((len(delta_rows), dim), (0,))
        ):
            raise IndexCorrupt(f"vector index {path}: generation {generation} files do not match")
        return _State(
            generation=generation,
            meta=meta,
            base=base,
            live=live,
            delta_rows=delta_rows,
            delta_vectors=delta_vectors.reshape(len(delta_rows), int(meta.get("dim", 0))).astype(np.float32, copy=False),
            meta_stamp=stamp,
            inode=path.stat().st_ino,
            languages={name: code for code, name in enumerate(meta.get("languages", []))},
        )
    raise AssertionError("unreachable")


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _bitmap(mask: np.ndarray) -> tuple[faiss.IDSelectorBitmap, np.ndarray]:
    """A faiss selector over internal positions, and the bytes it points at (keep both alive)."""
    bits = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits)), bits


def _row_mask(rows: np.ndarray, filters: VectorFilter | None, languages: dict[str, int]) -> np.ndarray | None:
    """Rows passing the language and date filters (documents are handled by the caller), or None for all."""
    if filters is None:
        return None
    mask = None
    if filters.languages:
        codes = [languages[name] for name in filters.languages if name in languages]
        mask = np.isin(rows["language"], np.asarray(codes, dtype=np.int16))
    for bound, keep in ((filters.created_after, np.greater_equal), (filters.created_before, np.less_equal)):
        if bound is not None:
            passed = keep(rows["created"], bound.timestamp())
            mask = passed if mask is None else mask & passed
    return mask


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class VectorEngine(DomainIndexFiles):
    """The vector indexes of every domain (cheap to build: state lives in the files and ``_readers``)."""

    engine = ENGINE

    # --- writes -----------------------------------------------------------------
    def write(
        self,
        *,
        domain_id: int,
        add: Sequence[VectorEntry] = (),
        delete_versions: Iterable[int] = (),
        delete_chunks: Iterable[int] = (),
    ) -> int:
        """Delete, then add (an added chunk replaces its earlier vector), as one new generation
        under the domain's writer lock. Returns the vectors added (entries of another model than
        the index's are left out)."""
        delete_versions, delete_chunks = list(delete_versions), list(delete_chunks)
        path = self.path(domain_id)
        if not add and (not (delete_versions or delete_chunks) or not mtime_ns(_meta_path(path))):
            return 0
        with writer_lock(self.lock_path(domain_id)):
            state = self._for_write(domain_id)
            added = self._commit(path, state, add, delete_versions, delete_chunks)
        return added

    def _for_write(self, domain_id: int) -> _State | None:
        """The current generation (reusing this process's open base), None when there is none;
        an unreadable one is wiped and started over (logged): the database holds every vector,
        and reconcile re-projects what was lost."""
        path = self.path(domain_id)
        if not mtime_ns(_meta_path(path)):
            return None
        try:
            state = _load(path, _readers.get(domain_id))
            with _readers_guard:  # the next commit (or query) of this process reuses the opened base
                _readers[domain_id] = state
            return state
        except (IndexCorrupt, FileNotFoundError):
            logger.warning(
                "vector index %s is unreadable: starting it over; reconcile restores its vectors", path, exc_info=True
            )
            shutil.rmtree(path, ignore_errors=True)
            return None

    @staticmethod
    def _index_model(state: _State | None, add: Sequence[VectorEntry]) -> tuple[str, int]:
        """The index's (model, dim); an empty index takes the model of what it is given first."""
        live = (int(state.live.sum()) + len(state.delta_rows)) if state is not None else 0
        if live == 0 and add:
            return add[0].model, int(np.asarray(add[0].vector).shape[-1])
        return (state.model, state.dim) if state is not None else ("", 0)

    @staticmethod
    def _prepare(path: Path, model: str, dim: int, add: Sequence[VectorEntry], languages: list[str]):
        """``add`` as side-table rows and normalised vectors; entries of another model (or
        dimension) are left out. ``languages`` (the code table) is extended."""
        entries = [e for e in add if e.model == model and np.asarray(e.vector).shape[-1] == dim]
        if len(entries) < len(add):
            logger.warning(
                "vector index %s holds model %r (%d-d): %d vector(s) of another model left out; reconcile rebuilds "
                "the index when the model changes",
                path, model, dim, len(add) - len(entries),
            )
        codes = {name: code for code, name in enumerate(languages)}
        for e in entries:
            if (e.language or "") not in codes:
                codes[e.language or ""] = len(languages)
                languages.append(e.language or "")
        rows = np.array(
            [(e.chunk_id, e.document_id, e.version_id, codes[e.language or ""], float(e.created)) for e in entries],
            dtype=ROW,
        )
        vectors = (
            _normalised(np.stack([np.asarray(e.vector) for e in entries]))
            if entries
            else np.empty((0, dim), dtype=np.float32)
        )
        return rows, vectors

    def _commit(self, path, state, add, delete_versions, delete_chunks) -> int:
        languages = list(state.meta.get("languages", [])) if state is not None else []
        model, dim = self._index_model(state, add)
        new_rows, new_vectors = self._prepare(path, model, dim, add, languages)
        return self._publish(
            path, state, model=model, dim=dim, languages=languages, new_rows=new_rows, new_vectors=new_vectors,
            delete_versions=delete_versions, delete_chunks=delete_chunks,
        )

    def _publish(
        self, path, state, *, model, dim, languages, new_rows, new_vectors, delete_versions=(), delete_chunks=(),
        force_merge: bool = False,
    ) -> int:
        """Write the next generation: ``state`` minus the deletes (and the re-added chunks), plus the new rows."""
        gone_versions = np.asarray(list(delete_versions), dtype=np.int64)
        gone_chunks = np.concatenate([np.asarray(list(delete_chunks), dtype=np.int64), new_rows["chunk"]])

        def dead(rows: np.ndarray) -> np.ndarray:
            return np.isin(rows["version"], gone_versions) | np.isin(rows["chunk"], gone_chunks)

        base = state.base if state is not None else _empty_base()
        live = state.live.copy() if state is not None else np.ones(0, dtype=bool)
        if len(base.rows):
            live &= ~dead(base.rows)
        delta_rows = state.delta_rows if state is not None else np.empty(0, dtype=ROW)
        delta_vectors = state.delta_vectors if state is not None else np.empty((0, dim), dtype=np.float32)
        keep = ~dead(delta_rows)
        delta_rows = np.concatenate([delta_rows[keep], new_rows])
        delta_vectors = np.concatenate([delta_vectors[keep].reshape(-1, dim), new_vectors]).astype(np.float32)

        generation = (state.generation if state is not None else 0) + 1
        gen_dir = path / f"g{generation}"
        shutil.rmtree(gen_dir, ignore_errors=True)  # left by a writer that died before publishing it
        gen_dir.mkdir(parents=True)
        meta = {
            "generation": generation,
            "model": model,
            "dim": dim,
            "languages": languages,
            "kind": base.kind,
            "base": base.key,
        }
        dead_rows = len(live) - int(live.sum())
        total = int(live.sum()) + len(delta_rows)
        wanted_kind = "hnsw" if total >= settings.SEARCH_ANN_MIN_VECTORS else "flat"
        merge = force_merge or len(delta_rows) > DELTA_MAX or (
            base.kind == "flat" and (dead_rows > DELTA_MAX or (wanted_kind == "hnsw" and len(delta_rows)))
        ) or (len(live) and dead_rows > REBUILD_DEAD_SHARE * len(live))
        if merge:
            base, live = self._merge(gen_dir, state, base, live, delta_rows, delta_vectors, wanted_kind, dim)
            delta_rows, delta_vectors = np.empty(0, dtype=ROW), np.empty((0, dim), dtype=np.float32)
            meta.update(kind=base.kind, base=base.key)
        elif base.kind != "none":
            previous_dir = path / f"g{state.generation}"
            for name in ("base.faiss", "base-rows.npy"):
                os.link(previous_dir / name, gen_dir / name)  # the base is immutable: shared, not copied
        if base.kind != "none":
            np.save(gen_dir / "base-live.npy", live)
        np.save(gen_dir / "delta-rows.npy", delta_rows)
        np.save(gen_dir / "delta-vectors.npy", delta_vectors)
        tmp = _meta_path(path).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, _meta_path(path))
        for old in path.glob("g*"):  # keep the previous generation for readers opening it right now
            if old.name[1:].isdigit() and int(old.name[1:]) < generation - 1:
                shutil.rmtree(old, ignore_errors=True)
        return len(new_rows)

    @staticmethod
    def _merge(gen_dir, state, base: _Base, live, delta_rows, delta_vectors, kind: str, dim: int):
        """A new base holding every live vector: the delta added to the HNSW graph, or a rebuild."""
        key = f"{gen_dir.name}-{os.urandom(4).hex()}"  # unique even after the domain's index was started over
        dead_rows = len(live) - int(live.sum())
        threads = os.cpu_count() or 1
        if kind == "hnsw" and base.kind == "hnsw" and dead_rows <= REBUILD_DEAD_SHARE * len(live):
            wrapped = faiss.read_index(str(gen_dir.parent / f"g{state.generation}" / "base.faiss"))
            with _omp_threads(threads):
                wrapped.add_with_ids(delta_vectors, delta_rows["chunk"].astype(np.int64))
            rows = np.concatenate([np.asarray(base.rows), delta_rows])
            live = np.concatenate([live, np.ones(len(delta_rows), dtype=bool)])
        else:
            kept = np.flatnonzero(live)
            old_vectors = (
                base.storage.reconstruct_batch(kept.astype(np.int64)) if len(kept) else np.empty((0, dim), np.float32)
            )
            vectors = np.concatenate([old_vectors.reshape(-1, dim), delta_vectors]).astype(np.float32)
            rows = np.concatenate([np.asarray(base.rows)[kept], delta_rows])
            if kind == "hnsw":
                inner = faiss.IndexHNSWFlat(dim, settings.SEARCH_ANN_M, faiss.METRIC_INNER_PRODUCT)
                inner.hnsw.efConstruction = settings.SEARCH_ANN_EF_CONSTRUCTION
            else:
                inner = faiss.IndexFlatIP(dim)
            wrapped = faiss.IndexIDMap2(inner)
            with _omp_threads(threads):
                wrapped.add_with_ids(vectors, rows["chunk"].astype(np.int64))
            live = np.ones(len(rows), dtype=bool)
        faiss.write_index(wrapped, str(gen_dir / "base.faiss"))
        np.save(gen_dir / "base-rows.npy", rows)
        # Readers open the written files (mmapped), not this in-memory build.
        return _Base(key=key, kind=kind, index=None, rows=rows), live

    def rebuild(self, *, domain_id: int, batches: Iterable[Sequence[VectorEntry]]) -> int:
        """Start the domain's index over from ``batches`` (all of them, one base built once), under
        the writer lock; entries of another model than the first one's are left out (the caller
        passes the majority model's). Returns the vectors indexed."""
        path = self.path(domain_id)
        with writer_lock(self.lock_path(domain_id)):
            shutil.rmtree(path, ignore_errors=True)
            languages: list[str] = []
            parts, model, dim = [], None, 0
            for batch in batches:
                if not batch:
                    continue
                if model is None:
                    model, dim = batch[0].model, int(np.asarray(batch[0].vector).shape[-1])
                parts.append(self._prepare(path, model, dim, batch, languages))
            if model is None:
                return 0
            new_rows = np.concatenate([rows for rows, _ in parts])
            new_vectors = np.concatenate([vectors for _, vectors in parts])
            parts.clear()
            return self._publish(
                path, None, model=model, dim=dim, languages=languages, new_rows=new_rows, new_vectors=new_vectors,
                force_merge=True,
            )

    def delete_version(self, *, domain_id: int, version_id: int) -> None:
        self.write(domain_id=domain_id, delete_versions=[version_id])

    def delete_domain(self, *, domain_id: int) -> None:
        with writer_lock(self.lock_path(domain_id)):
            shutil.rmtree(self.path(domain_id), ignore_errors=True)
        with _readers_guard:
            _readers.pop(domain_id, None)

    # --- reads ------------------------------------------------------------------
    def _reader(self, domain_id: int) -> _State | None:
        """The open generation, reloaded when another process committed; None when the domain has none yet."""
        path = self.path(domain_id)
        stamp = _stamp(_meta_path(path))
        if not stamp[1]:
            return None
        inode = path.stat().st_ino
        with _readers_guard:
            state = _readers.get(domain_id)
            if state is None or state.inode != inode or state.meta_stamp != stamp:
                previous = state if state is not None and state.inode == inode else None
                try:
                    state = _readers[domain_id] = _load(path, previous)
                except FileNotFoundError:  # the index was deleted meanwhile
                    _readers.pop(domain_id, None)
                    return None
                except IndexCorrupt:
                    _readers.pop(domain_id, None)
                    raise
            return state

    def exists(self, *, domain_id: int) -> bool:
        return bool(mtime_ns(_meta_path(self.path(domain_id))))

    def model(self, *, domain_id: int) -> str:
        state = self._reader(domain_id)
        return state.model if state is not None else ""

    def search(
        self, *, domain_id: int, vector: np.ndarray, k: int, filters: VectorFilter | None = None, exact: bool = False
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) best first, from the live vectors passing ``filters``;
        ``exact`` scans every vector even where the index is HNSW (recall measurements)."""
        state = self._reader(domain_id)
        if state is None or k <= 0:
            return []
        query = _normalised(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != state.dim:
            return []
        hits = self._search_base(state, query, k, filters, exact) + self._search_delta(state, query[0], k, filters)
        hits.sort(key=lambda h: -h[1])
        return hits[:k]

    def _search_base(self, state: _State, query: np.ndarray, k: int, filters: VectorFilter | None, exact: bool):
        base = state.base
        n = len(base.rows)
        if not n:
            return []
        mask = None if state.live.all() else state.live
        if filters is not None and filters.document_ids:
            only = np.zeros(n, dtype=bool)
            only[base.positions_of_documents(filters.document_ids)] = True
            mask = only if mask is None else mask & only
        rest = _row_mask(base.rows, filters, state.languages)
        if rest is not None:
            mask = rest if mask is None else mask & rest
        allowed = n if mask is None else int(mask.sum())
        if not allowed:
            return []
        selector, _bits = _bitmap(mask) if mask is not None else (None, None)
        want = min(k, allowed)
        if base.kind == "hnsw" and not exact and allowed >= FILTER_ANN_MIN_SHARE * n:
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(settings.SEARCH_ANN_EF_SEARCH, k)
            if selector is not None:
                params.sel = selector
            scores, positions = base.index.search(query, k, params=params)
            if int((positions[0] >= 0).sum()) >= want:
                return self._hits(base, scores[0], positions[0])
        # Exact: a scan of the allowed rows of the flat vectors (the only path below the ANN threshold).
        params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        scores, positions = base.storage.search(query, k, params=params)
        return self._hits(base, scores[0], positions[0])

    @staticmethod
    def _hits(base: _Base, scores: np.ndarray, positions: np.ndarray) -> list[tuple[int, float]]:
        found = positions >= 0
        chunks = base.rows["chunk"][positions[found]]
        return [(int(c), float(s)) for c, s in zip(chunks, scores[found], strict=True)]

    @staticmethod
    def _search_delta(state: _State, query: np.ndarray, k: int, filters: VectorFilter | None):
        rows = state.delta_rows
        if not len(rows):
            return []
        scores = state.delta_vectors @ query
        mask = _row_mask(rows, filters, state.languages)
        if filters is not None and filters.document_ids:
            docs = np.isin(rows["document"], np.asarray(filters.document_ids, dtype=np.int64))
            mask = docs if mask is None else mask & docs
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        return [(int(rows["chunk"][i]), float(scores[i])) for i in _top(scores, k) if np.isfinite(scores[i])]

    # --- reconciliation and health ---------------------------------------------------
    def version_members(self, *, domain_id: int) -> dict[int, set[str]]:
        """Chunk ids per version id, as the index holds them (from the side-tables)."""
        state = self._reader(domain_id)
        members: dict[int, set[str]] = defaultdict(set)
        if state is None:
            return {}
        rows = state.live_rows()
        for version_id, chunk_id in zip(rows["version"].tolist(), rows["chunk"].tolist(), strict=True):
            members[version_id].add(str(chunk_id))
        return dict(members)

    def counts(self, *, domain_id: int) -> dict[int, int]:
        state = self._reader(domain_id)
        if state is None:
            return {}
        versions, counts = np.unique(state.live_rows()["version"], return_counts=True)
        return dict(zip(versions.tolist(), counts.tolist(), strict=True))

    def size(self, *, domain_id: int) -> dict:
        """What the domain's index holds: kind, live vectors, tombstones, delta rows."""
        state = self._reader(domain_id)
        if state is None:
            return {"kind": "none", "vectors": 0, "tombstones": 0, "delta": 0}
        return {
            "kind": state.base.kind,
            "vectors": int(state.live.sum()) + len(state.delta_rows),
            "tombstones": len(state.live) - int(state.live.sum()),
            "delta": len(state.delta_rows),
            "model": state.model,
        }

    def health(self, *, domain_ids: Iterable[int]) -> HealthStatus:
        """Every listed domain's index opens and reads; a missing or unreadable one is named."""
        missing, corrupt, vectors = [], [], 0
        for domain_id in domain_ids:
            try:
                state = self._reader(domain_id)
            except (IndexCorrupt, FileNotFoundError):
                corrupt.append(domain_id)
                continue
            if state is None:
                missing.append(domain_id)
            else:
                vectors += int(state.live.sum()) + len(state.delta_rows)
        problems = []
        if corrupt:
            problems.append(f"unreadable vector index for domain(s) {corrupt}")
        if missing:
            problems.append(f"no vector index for domain(s) {missing}")
        if problems:
            return HealthStatus(
                ok=False,
                detail="; ".join(problems) + ": run rebuild_projections --backend vectors",
                extra={"missing": missing, "corrupt": corrupt},
            )
        return HealthStatus(ok=True, detail=f"faiss ({vectors} vectors)", extra={"vectors": vectors})


vector_engine = VectorEngine()
