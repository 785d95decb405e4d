from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from apps.search.backends.types import Extraction, HealthStatus


class Extractor(ABC):
    #: Identifies the extractor (and its prompt/rules version) in caches and metrics.
    name: str
    #: Texts per ``extract`` call. Results are cached and the step's lease extended after each
    #: call: a remote model keeps it small (a failure loses little), a local one can take many.
    batch_size: int = 16

    def __init__(self, alias: str = "default", **options):
        self.alias = alias
        self.options = options

    @abstractmethod
    def extract(self, texts: Sequence[str]) -> list[Extraction]:
        """One Extraction per text, offsets relative to that text."""

    def health(self) -> HealthStatus:
        return HealthStatus(ok=True, detail=self.name)

    def close(self) -> None:
        pass
