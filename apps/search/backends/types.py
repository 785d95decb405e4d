"""The project's own data shapes at the ports. Third-party types never cross them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np


# --- extraction -----------------------------------------------------------------
@dataclass(frozen=True)
class ExtractedEntity:
    name: str  # surface form as found
    type: str  # an EntityType value
    start: int  # offsets within the chunk text
    end: int


@dataclass(frozen=True)
class ExtractedRelation:
    source: str  # surface names of entities in the same chunk
    target: str
    type: str  # a RelationType value
    evidence: str = ""  # the sentence that says it
    predicate: str = ""  # what the sentence said: a verb lemma ("discover"), "born in", "director of"
    start: int = 0  # offsets of the evidence within the chunk text
    end: int = 0


@dataclass(frozen=True)
class Extraction:
    entities: tuple[ExtractedEntity, ...] = ()
    relations: tuple[ExtractedRelation, ...] = ()
    # Set when this one text could not be extracted (a model's malformed answer): the text
    # contributes nothing this time, is not cached, and the other texts are unaffected.
    error: str = ""


# --- graph ----------------------------------------------------------------------
@dataclass(frozen=True)
class GraphEntity:
    key: str
    name: str
    type: str


@dataclass(frozen=True)
class GraphRelation:
    source_key: str
    target_key: str
    type: str
    weight: float
    predicate: str = ""


@dataclass(frozen=True)
class GraphMention:
    entity_key: str
    chunk_id: int


@dataclass(frozen=True)
class GraphContribution:
    """Everything one document version adds to a domain's graph."""

    domain_id: int
    document_id: int
    version_id: int
    document_title: str
    chunk_ids: tuple[int, ...]
    entities: tuple[GraphEntity, ...]
    relations: tuple[GraphRelation, ...]
    mentions: tuple[GraphMention, ...]


@dataclass(frozen=True)
class Subgraph:
    nodes: tuple[GraphEntity, ...] = ()
    edges: tuple[GraphRelation, ...] = ()


@dataclass(frozen=True)
class EntityDocuments:
    document_id: int
    mentions: int


# --- vectors --------------------------------------------------------------------
@dataclass(frozen=True)
class VectorItem:
    chunk_id: int
    document_id: int
    version_id: int
    domain_id: int
    vector: np.ndarray  # float32, L2-normalized
    text: str = ""
    language: str = ""
    created: float = 0.0  # epoch seconds of the document (creation filters)
    model: str = ""  # the embedding model that made ``vector``


@dataclass(frozen=True)
class VectorFilter:
    document_ids: tuple[int, ...] = ()
    languages: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class VectorHit:
    chunk_id: int
    score: float  # cosine similarity


@dataclass(frozen=True)
class HealthStatus:
    ok: bool
    detail: str = ""
    extra: dict = field(default_factory=dict)


# --- reconciliation members -------------------------------------------------------
# What a graph projection holds for one version, as strings both sides build the same way
# (``apps.search.reconcile`` from the database, a projection's ``version_members`` from
# itself), so a checksum of them sees a stale weight, name or type, not only a missing row.
def mention_member(*, key: str, chunk_id: int) -> str:
    return f"m:{key}@{int(chunk_id)}"


def entity_member(*, key: str, name: str, type: str) -> str:
    return f"e:{key}|{name}|{type}"


def relation_member(*, source: str, type: str, target: str, weight: float, predicate: str = "") -> str:
    kind = f"{type}/{predicate}" if predicate else type  # "acts_on/launch" and "acts_on/discover" are two edges
    return f"r:{source}|{kind}|{target}|{float(weight):.6g}"
