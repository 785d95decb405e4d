"""Reconciliation: keep the graph and vector projections equal to PostgreSQL.

PostgreSQL is the source of truth; Neo4j, Weaviate and the embedded engines' index files
(``apps.search.engines``) are projections of it (DESIGN §4). ``reconcile_domain`` compares, per document version, what the database
holds with what the projection holds — counts, and a checksum of the members (mention
pairs, the mentioned entities' names and types, and supported relation edges with their
weights for the graph; chunk ids for vectors) when the projection can list them — and
repairs the difference in bounded batches. A version the projection lists that the
database no longer has is drift whatever its checksum (a deleted version that had chunks
but no mentions hashes like an empty one):

- a version missing or incomplete in the projection is re-projected from the database
  (``apps.search.projections``, the same builders the pipeline uses);
- a version in the projection that the database no longer has is deleted from it.

``rebuild_projections`` starts over from nothing. Every repair is counted in
``heysh_projection_drift_total{backend, action}``.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count

from apps.core.backends import graph_stores, vector_stores
from apps.core.metrics import heysh_projection_drift_total
from apps.documents.models import Chunk, DocumentVersion
from apps.domains.models import Domain
from apps.search.backends.graph.embedded import EmbeddedGraphStore
from apps.search.backends.types import entity_member, mention_member, relation_member
from apps.search.backends.vectors.embedded import EmbeddedVectorStore
from apps.search.engines.files import IndexCorrupt
from apps.search.engines.keyword import keyword_engine
from apps.search.models import Mention, RelationEvidence
from apps.search.projections import graph_contribution, keyword_entries, vector_items
from apps.search.selectors import chunk_searchable_queryset

logger = logging.getLogger(__name__)

BACKENDS = ("graph", "vectors", "keyword")
RECONCILE_TASK_NAME = "projections: reconcile"
RECONCILE_TASK = "tasks.projections.reconcile"


def checksum(members: Iterable[str]) -> str:
    """Order-independent digest of a version's members."""
    digest = hashlib.sha256()
    for member in sorted(set(members)):
        digest.update(member.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


@dataclass
class ReconcileReport:
    backend: str
    domain_id: int
    versions_checked: int = 0
    reprojected: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    remaining: int = 0  # drifted versions left for the next run (batch limit reached)

    @property
    def drift(self) -> int:
        return len(self.reprojected) + len(self.removed) + self.remaining


# --- what the database says -----------------------------------------------------
def graph_expected(*, domain_id: int) -> tuple[dict[int, dict[str, int]], dict[int, set[str]]]:
    counts = {
        row["version_id"]: {"entities": row["entities"], "mentions": row["mentions"]}
        for row in Mention.objects.filter(domain_id=domain_id)
        .values("version_id")
        .annotate(mentions=Count("pk"), entities=Count("entity_id", distinct=True))
    }
    members: dict[int, set[str]] = defaultdict(set)
    for version_id, key, name, entity_type, chunk_id in (
        Mention.objects.filter(domain_id=domain_id)
        .values_list("version_id", "entity__key", "entity__name", "entity__type", "chunk_id")
        .distinct()
    ):
        members[version_id].add(mention_member(key=key, chunk_id=chunk_id))
        members[version_id].add(entity_member(key=key, name=name, type=entity_type))
    for version_id, source, rel_type, predicate, target, weight in (
        RelationEvidence.objects.filter(relation__domain_id=domain_id)
        .values_list(
            "version_id", "relation__source__key", "relation__type", "relation__predicate", "relation__target__key",
            "relation__weight",
        )
        .distinct()
    ):
        members[version_id].add(
            relation_member(source=source, type=rel_type, predicate=predicate, target=target, weight=weight)
        )
    return counts, dict(members)


def vectors_expected(*, domain_id: int) -> tuple[dict[int, int], dict[int, set[str]]]:
    members: dict[int, set[str]] = defaultdict(set)
    for version_id, chunk_id in Chunk.objects.filter(domain_id=domain_id, embedding__isnull=False).values_list(
        "version_id", "pk"
    ):
        members[version_id].add(str(chunk_id))
    return {v: len(m) for v, m in members.items()}, dict(members)


def keyword_expected(*, domain_id: int) -> tuple[dict[int, int], dict[int, set[str]]]:
    """The searchable chunks (each document's current version): what the keyword engine must hold."""
    members: dict[int, set[str]] = defaultdict(set)
    for version_id, chunk_id in chunk_searchable_queryset(domain_ids=[domain_id]).values_list("version_id", "pk"):
        members[version_id].add(str(chunk_id))
    return {v: len(m) for v, m in members.items()}, dict(members)


def vector_engine_expected(*, domain_id: int) -> tuple[dict[int, int], dict[int, set[str]]]:
    """What the embedded vector engine must hold: the searchable chunks (each document's current
    version) embedded with the domain's majority model (two models are never mixed)."""
    members: dict[int, set[str]] = defaultdict(set)
    model = majority_model(domain_id=domain_id)
    for version_id, chunk_id in (
        chunk_searchable_queryset(domain_ids=[domain_id])
        .filter(embedding__isnull=False, embedding_model=model)
        .values_list("version_id", "pk")
    ):
        members[version_id].add(str(chunk_id))
    return {v: len(m) for v, m in members.items()}, dict(members)


def majority_model(*, domain_id: int) -> str:
    """The embedding model of most of the domain's searchable chunks ("" when none is embedded)."""
    row = (
        chunk_searchable_queryset(domain_ids=[domain_id])
        .filter(embedding__isnull=False)
        .values("embedding_model")
        .annotate(n=Count("pk"))
        .order_by("-n", "embedding_model")
        .first()
    )
    return row["embedding_model"] if row else ""


EXPECTED = {"graph": graph_expected, "vectors": vectors_expected, "keyword": keyword_expected}


def _expected(backend: str, store, domain_id: int):
    if backend == "vectors" and isinstance(store, EmbeddedVectorStore):
        return vector_engine_expected(domain_id=domain_id)
    return EXPECTED[backend](domain_id=domain_id)


# --- comparison -----------------------------------------------------------------
def _signature(count, members: set[str] | None, with_members: bool):
    empty = count in (None, 0, {}) or (isinstance(count, dict) and not any(count.values()))
    normal = None if empty else count
    if not with_members:
        return (normal,)
    return (normal, checksum(members or ()))


def drifted_versions(
    *, expected_counts, expected_members, actual_counts, actual_members, known_versions: set[int] | None = None
) -> list[int]:
    """Versions whose projection differs from the database (sorted). With ``known_versions`` (the
    database's version ids), a projected version missing from it is drift even when empty."""
    with_members = actual_members is not None
    versions = set(expected_counts) | set(expected_members) | set(actual_counts) | set(actual_members or ())
    drift = []
    for version_id in sorted(versions):
        if (
            known_versions is not None
            and version_id not in known_versions
            and (version_id in actual_counts or version_id in (actual_members or {}))
        ):
            drift.append(version_id)
            continue
        want = _signature(expected_counts.get(version_id), expected_members.get(version_id), with_members)
        have = _signature(actual_counts.get(version_id), (actual_members or {}).get(version_id), with_members)
        if want != have:
            drift.append(version_id)
    return drift


def _store_for(backend: str, store):
    if backend not in BACKENDS:
        raise ValueError(f"unknown projection backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if store is not None:
        return store
    if backend == "keyword":
        return keyword_engine
    return (graph_stores if backend == "graph" else vector_stores)["default"]


def _actual(store, domain_id: int):
    members = store.version_members(domain_id=domain_id) if hasattr(store, "version_members") else None
    return store.counts(domain_id=domain_id), members


def _versions_by_id(domain_id: int, version_ids: list[int]) -> dict:
    return {
        v.pk: v
        for v in DocumentVersion.objects.filter(domain_id=domain_id, pk__in=version_ids).select_related("document")
    }


# Versions the keyword engine takes per commit in reconcile and rebuild.
KEYWORD_WRITE_VERSIONS = 500


def project_versions(*, backend: str, store, domain_id: int, versions: list, removed: list[int] = ()) -> None:
    """(Re)write several versions' shares of one domain's projection, and delete the ``removed``
    versions from it. The keyword engine takes them all in one commit (a tantivy commit per
    version made a rebuild of 5,000 chunks take a minute); the other projections go version
    by version."""
    if backend == "keyword":
        store.write(
            domain_id=domain_id,
            delete_versions=[v.pk for v in versions] + list(removed),
            add=[entry for version in versions for entry in keyword_entries(version)],
        )
        return
    for version_id in removed:
        store.delete_version(domain_id=domain_id, version_id=version_id)
    for version in versions:
        project_version(backend=backend, store=store, version=version)


def project_version(*, backend: str, store, version) -> None:
    """(Re)write one version's share of a projection from the database — exact, not additive."""
    if backend == "graph":
        store.replace_version(graph_contribution(version))
    elif backend == "keyword":
        store.write(domain_id=version.domain_id, delete_versions=[version.pk], add=keyword_entries(version))
    elif isinstance(store, EmbeddedVectorStore):  # one commit: the version's vectors replaced
        store.publish(
            domain_id=version.domain_id,
            items=[item for batch in vector_items(version) for item in batch],
            delete_version_ids=[version.pk],
        )
    else:
        store.delete_version(domain_id=version.domain_id, version_id=version.pk)
        for batch in vector_items(version):
            store.upsert(batch)


def reconcile_domain(*, domain, backend: str, store=None, max_versions: int | None = None) -> ReconcileReport:
    """Compare one domain's projection with the database and repair up to ``max_versions`` versions."""
    store = _store_for(backend, store)
    max_versions = max_versions or getattr(settings, "PROJECTION_RECONCILE_BATCH", 200)
    domain_id = domain.pk
    if backend == "vectors" and isinstance(store, EmbeddedVectorStore):
        model = store.model(domain_id=domain_id)
        if model and model != majority_model(domain_id=domain_id):
            logger.info("vector index of domain %s holds model %r, the database another: rebuilding", domain_id, model)
            written = rebuild_domain(domain=domain, backend=backend, store=store)
            return ReconcileReport(backend=backend, domain_id=domain_id, versions_checked=written, reprojected=[])
    expected_counts, expected_members = _expected(backend, store, domain_id)
    actual_counts, actual_members = _actual(store, domain_id)
    listed = set(actual_counts) | set(actual_members or ())
    known = set(DocumentVersion.objects.filter(domain_id=domain_id, pk__in=listed).values_list("pk", flat=True))
    drift = drifted_versions(
        expected_counts=expected_counts,
        expected_members=expected_members,
        actual_counts=actual_counts,
        actual_members=actual_members,
        known_versions=known | set(expected_members),
    )
    report = ReconcileReport(
        backend=backend,
        domain_id=domain_id,
        versions_checked=len(set(expected_counts) | set(expected_members) | set(actual_counts)),
    )
    batch, report.remaining = drift[:max_versions], max(0, len(drift) - max_versions)
    versions = _versions_by_id(domain_id, batch)
    report.removed = [v for v in batch if v not in versions]
    report.reprojected = [v for v in batch if v in versions]
    step = KEYWORD_WRITE_VERSIONS if backend == "keyword" else 1
    for start in range(0, len(batch), step):
        part = batch[start : start + step]
        project_versions(
            backend=backend, store=store, domain_id=domain_id,
            versions=[versions[v] for v in part if v in versions], removed=[v for v in part if v not in versions],
        )
    if report.removed:
        heysh_projection_drift_total.labels(backend=backend, action="removed").inc(len(report.removed))
    if report.reprojected:
        heysh_projection_drift_total.labels(backend=backend, action="reprojected").inc(len(report.reprojected))
    if report.drift:
        logger.info(
            "reconciled %s of domain %s: %d re-projected, %d removed, %d left for the next run",
            backend,
            domain_id,
            len(report.reprojected),
            len(report.removed),
            report.remaining,
        )
    return report


def rebuild_domain(*, domain, backend: str, store=None, progress: Callable[[int], None] | None = None) -> int:
    """Drop the domain's projection and project every version the database holds; returns versions written."""
    store = _store_for(backend, store)
    if hasattr(store, "ensure_schema"):
        store.ensure_schema()
    expected_counts, expected_members = _expected(backend, store, domain.pk)
    version_ids = sorted(set(expected_counts) | set(expected_members))
    if isinstance(store, EmbeddedVectorStore):  # the engine builds its index once, from everything
        store.rebuild_domain(domain_id=domain.pk, batches=_vector_batches(domain.pk, version_ids, progress))
        heysh_projection_drift_total.labels(backend=backend, action="rebuilt").inc(len(version_ids))
        return len(version_ids)
    store.delete_domain(domain_id=domain.pk)
    written = 0
    step = KEYWORD_WRITE_VERSIONS if backend == "keyword" else 100
    for start in range(0, len(version_ids), step):
        chunk = version_ids[start : start + step]
        versions = _versions_by_id(domain.pk, chunk)
        project_versions(backend=backend, store=store, domain_id=domain.pk, versions=[versions[v] for v in chunk if v in versions])
        written += sum(1 for v in chunk if v in versions)
        if progress:
            progress(len(chunk))
    heysh_projection_drift_total.labels(backend=backend, action="rebuilt").inc(written)
    return written


def _vector_batches(domain_id: int, version_ids: list[int], progress):
    model = majority_model(domain_id=domain_id)
    for start in range(0, len(version_ids), 100):
        chunk = version_ids[start : start + 100]
        versions = _versions_by_id(domain_id, chunk)
        for version_id in chunk:
            if version_id in versions:
                for batch in vector_items(versions[version_id]):
                    yield [item for item in batch if item.model == model]
            if progress:
                progress(1)


def rebuild_version_count(*, domain, backend: str) -> int:
    expected_counts, expected_members = _expected(backend, _store_for(backend, None), domain.pk)
    return len(set(expected_counts) | set(expected_members))


def is_projection(store) -> bool:
    """The embedded graph store reads the database itself and has nothing to reconcile; the
    engines' files (keyword, vectors) do."""
    return not isinstance(store, EmbeddedGraphStore)


def reconcile_all(*, include_embedded: bool = False) -> list[ReconcileReport]:
    """Every domain × every configured projection; a projection that is down is skipped (and retried next run)."""
    reports: list[ReconcileReport] = []
    for backend, store in (
        ("graph", graph_stores["default"]),
        ("vectors", vector_stores["default"]),
        ("keyword", keyword_engine),
    ):
        if not include_embedded and not is_projection(store):
            continue
        # An engine's missing or unreadable index is what reconcile repairs, not a reason to skip.
        health = store.health() if backend != "keyword" and not isinstance(store, EmbeddedVectorStore) else None
        if health is not None and not health.ok:
            logger.warning("skipping %s reconciliation: projection unhealthy (%s)", backend, health.detail)
            heysh_projection_drift_total.labels(backend=backend, action="skipped_unhealthy").inc()
            continue
        for domain in Domain.objects.order_by("pk").iterator():
            try:
                reports.append(reconcile_domain(domain=domain, backend=backend, store=store))
            except IndexCorrupt:
                logger.warning(
                    "%s index of domain %s is unreadable: rebuilding it from the database", backend, domain.pk
                )
                rebuild_domain(domain=domain, backend=backend, store=store)
            except Exception:  # one domain's failure must not stop the others
                logger.exception("reconciling %s of domain %s failed", backend, domain.pk)
                heysh_projection_drift_total.labels(backend=backend, action="failed").inc()
    return reports


# --- schema, installed after migrate ----------------------------------------------
def graph_schema_install(**kwargs) -> None:
    """post_migrate receiver: create the Neo4j constraints when Neo4j is configured (else first use does)."""
    store = graph_stores["default"]
    if not hasattr(store, "ensure_schema"):
        return
    try:
        store.ensure_schema()
    except Exception as exc:  # migrate must not fail because a projection is down
        logger.warning("could not create the graph schema now (%s); it is created on first use", type(exc).__name__)
