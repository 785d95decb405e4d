from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from apps.search.backends.types import HealthStatus


class Embedder(ABC):
    #: Stored on each chunk so vectors of different models are never compared.
    model_name: str
    dimension: int

    def __init__(self, alias: str = "default", **options):
        self.alias = alias
        self.options = options

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dimension), rows L2-normalized."""

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def health(self) -> HealthStatus:
        return HealthStatus(ok=True, detail=self.model_name)

    def close(self) -> None:
        pass
