"""A deterministic feature-hashing embedder, for tests only.

Words (lowercased, plus character trigrams) are hashed into a fixed number of
dimensions. Texts sharing words get similar vectors, so ranking tests mean something,
yet nothing is downloaded or loaded. Never use it for real retrieval.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from apps.search.backends.embeddings.base import Embedder

WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    def __init__(self, alias: str = "default", dimension: int = 384, **options):
        super().__init__(alias, **options)
        self.dimension = dimension
        self.model_name = f"hashing-{dimension}"

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dimension, 1.0 if (value >> 63) & 1 else -1.0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()):
                features = [word] + [word[i : i + 3] for i in range(max(0, len(word) - 2))]
                for feature in features:
                    index, sign = self._bucket(feature)
                    matrix[row, index] += sign
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return matrix / norms
