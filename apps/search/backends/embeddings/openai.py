"""Embeddings from an OpenAI-compatible ``{base_url}/embeddings`` endpoint (OpenAI, Ollama, vLLM, TEI...)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from apps.search.backends.embeddings.base import Embedder
from apps.search.backends.types import HealthStatus


class OpenAICompatibleEmbedder(Embedder):
    def __init__(self, alias: str = "default", base_url: str | None = None, api_key: str | None = None,
                 model: str = "text-embedding-3-small", batch_size: int = 64, dimension: int | None = None,
                 timeout: float = 60.0, **options):
        super().__init__(alias, **options)
        self.base_url = (base_url or "").rstrip("/")
        self.model_name = model
        self.batch_size = batch_size
        self.dimension = dimension or 0  # learned from the first answer when not configured
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not self.base_url:
            raise RuntimeError("The OpenAI-compatible embedder needs HEYSH_LLM_BASE_URL.")
        rows: list[np.ndarray] = []
        for i in range(0, len(texts), self.batch_size):
            batch = list(texts[i : i + self.batch_size])
            response = self._client.post(f"{self.base_url}/embeddings", json={"model": self.model_name, "input": batch})
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            if len(data) != len(batch):
                raise ValueError(f"the embeddings endpoint returned {len(data)} vectors for {len(batch)} texts")
            rows.extend(np.asarray(item["embedding"], dtype=np.float32) for item in data)
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        matrix = np.vstack(rows)
        if self.dimension and matrix.shape[1] != self.dimension:
            raise ValueError(f"expected {self.dimension}-dimensional vectors, got {matrix.shape[1]}")
        self.dimension = matrix.shape[1]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (matrix / norms).astype(np.float32)

    def health(self) -> HealthStatus:
        return HealthStatus(ok=bool(self.base_url), detail=f"{self.model_name} at {self.base_url or '(no base URL)'}")

    def close(self) -> None:
        self._client.close()
