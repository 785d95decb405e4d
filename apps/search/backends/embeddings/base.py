from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from apps.search.backends.types import HealthStatus

logger = logging.getLogger(__name__)

# Warm-up is per process, not per backend instance: the handler builds one instance per
# thread, while the model they share is loaded once. Keyed by Embedder.warm_key().
_warm_lock = threading.Lock()
_warm_threads: dict[str, threading.Thread] = {}
_warm_done: dict[str, str] = {}  # key -> "" when warm, else the reason the warm-up failed


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

    # --- warm-up: load the model when a process starts, not inside its first request ---
    def warm_key(self) -> str | None:
        """What one warm-up covers in this process; None: nothing to load (always warm)."""
        return None

    def warm(self, *, documents: bool = False) -> None:
        """Load the model and run it once. ``documents``: also what embeds document batches
        (an ai worker), not only what answers queries (a web process)."""

    def warm_in_background(self, *, documents: bool = False) -> None:
        """Start ``warm`` in a daemon thread, once per process; returns at once."""
        key = self.warm_key()
        if key is None:
            return
        with _warm_lock:
            if key in _warm_threads:
                return
            thread = threading.Thread(
                target=self._warm_and_record, args=(key, documents), name=f"warm-{self.alias}", daemon=True
            )
            _warm_threads[key] = thread
        thread.start()

    def _warm_and_record(self, key: str, documents: bool) -> None:
        started = time.perf_counter()
        try:
            self.warm(documents=documents)
        except Exception as exc:  # reported by warm_state (and so /ready), never a dead thread's traceback only
            logger.exception("embedder warm-up failed", extra={"alias": self.alias})
            _warm_done[key] = f"warm-up failed: {type(exc).__name__}: {exc}"[:300]
            with _warm_lock:
                _warm_threads.pop(key, None)  # the next readiness probe tries again
        else:
            _warm_done[key] = ""
            logger.info("embedder %s warm in %.1f s", self.model_name, time.perf_counter() - started)

    def warm_state(self) -> HealthStatus:
        """ok once this process has the model loaded and run; starts the warm-up when nothing did."""
        key = self.warm_key()
        if key is None:
            return HealthStatus(ok=True, detail=self.model_name)
        if key in _warm_done:
            failure = _warm_done[key]
            if failure:
                self.warm_in_background()  # retried, at most one attempt at a time
            return HealthStatus(ok=not failure, detail=failure or f"{self.model_name} warm")
        self.warm_in_background()
        return HealthStatus(ok=False, detail=f"{self.model_name} warming up")
