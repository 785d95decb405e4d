"""The Weaviate vector store: chunk vectors in one multi-tenant collection.

One collection (``WEAVIATE_COLLECTION``) with bring-your-own vectors, one tenant per
domain (``domain-<id>``, created on demand), deterministic UUIDv5 object ids (so
re-indexing is an upsert). Requests are built in ``weaviate_requests.py``.

Beyond the port, it offers Weaviate's own BM25 (``keyword_search``).

The tenant cache is only a shortcut: when another process removed a tenant, a write
re-creates it once and retries, a read answers as for a domain without vectors. The
client is created lazily, once per process, and closed by ``close()`` and on Celery
worker shutdown.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Sequence
from urllib.parse import urlparse

import numpy as np
import weaviate
from celery.signals import worker_process_shutdown, worker_shutdown
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.tenants import Tenant

from apps.documents.models import Document
from apps.search.backends.types import HealthStatus, VectorFilter, VectorHit, VectorItem
from apps.search.backends.vectors import weaviate_requests as requests
from apps.search.backends.vectors.base import VectorStore

logger = logging.getLogger(__name__)

# Most versions one domain may hold for ``counts``: a grouped aggregate returns only the
# top 100 groups unless given a limit, so reconciliation would never see the rest.
VERSION_GROUP_LIMIT = 100_000

_open_stores: weakref.WeakSet = weakref.WeakSet()


class VectorStoreError(RuntimeError):
    """Weaviate refused part of a write after retries; the message names what and why (no vectors, no text)."""


def tenant_missing(exc: BaseException | str) -> bool:
    """The server's answer when the tenant does not exist (any more): "tenant not found"."""
    return "tenant not found" in str(exc).lower()


class WeaviateVectorStore(VectorStore):
    def __init__(
        self,
        alias: str = "default",
        *,
        url: str,
        grpc_port: int = 50051,
        grpc_host: str | None = None,
        api_key: str | None = None,
        collection: str = "HeyshChunk",
        batch_size: int = 200,
        batch_retries: int = 3,
        timeout_seconds: int = 30,
        version_group_limit: int = VERSION_GROUP_LIMIT,
        **options,
    ):
        super().__init__(alias, **options)
        parsed = urlparse(url)
        self.url = url
        self.http_host = parsed.hostname or "localhost"
        self.http_secure = parsed.scheme == "https"
        self.http_port = parsed.port or (443 if self.http_secure else 80)
        self.grpc_host = grpc_host or self.http_host
        self.grpc_port = grpc_port
        self._api_key = api_key
        self.collection_name = collection
        self.version_group_limit = version_group_limit
        self.batch_size = batch_size
        self.batch_retries = batch_retries
        self.timeout_seconds = timeout_seconds
        self._client = None
        self._pid: int | None = None
        self._tenants: set[str] = set()
        self._collection_ready = False
        self._lock = threading.Lock()
        _open_stores.add(self)

    # --- connection ---------------------------------------------------------------
    @property
    def client(self):
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    self._client = weaviate.connect_to_custom(
                        http_host=self.http_host,
                        http_port=self.http_port,
                        http_secure=self.http_secure,
                        grpc_host=self.grpc_host,
                        grpc_port=self.grpc_port,
                        grpc_secure=self.http_secure,
                        auth_credentials=Auth.api_key(self._api_key) if self._api_key else None,
                        additional_config=AdditionalConfig(
                            timeout=Timeout(init=10, query=self.timeout_seconds, insert=self.timeout_seconds * 4)
                        ),
                    )
                    self._pid = os.getpid()
                    self._tenants = set()
                    self._collection_ready = False
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None
            self._pid = None
            self._tenants = set()
            self._collection_ready = False

    def ensure_collection(self):
        client = self.client
        if not self._collection_ready:
            if not client.collections.exists(self.collection_name):
                try:
                    client.collections.create(**requests.collection_config(self.collection_name))
                except Exception:
                    # Another process created it first: fine if it exists now.
                    if not client.collections.exists(self.collection_name):
                        raise
            self._collection_ready = True
        return client.collections.get(self.collection_name)

    def _tenant(self, domain_id: int, *, create: bool):
        """The domain's tenant-bound collection, or None when it has no tenant (and create is False)."""
        collection = self.ensure_collection()
        name = requests.tenant_name(domain_id)
        if name not in self._tenants:
            if not collection.tenants.exists(name):
                if not create:
                    return None
                try:
                    collection.tenants.create([Tenant(name=name)])
                except Exception:
                    if not collection.tenants.exists(name):
                        raise
            self._tenants.add(name)
        return collection.with_tenant(name)

    def _forget_tenant(self, domain_id: int) -> None:
        self._tenants.discard(requests.tenant_name(domain_id))

    def _in_tenant(self, domain_id: int, work, *, create: bool, missing=None):
        """``work(collection)`` in the domain's tenant. A tenant removed behind the cache's back
        is re-created once and the work retried (writes), or answered with ``missing`` (reads)."""
        collection = self._tenant(domain_id, create=create)
        if collection is None:
            return missing
        try:
            return work(collection)
        except Exception as exc:
            if not tenant_missing(exc):
                raise
            self._forget_tenant(domain_id)
            logger.info("weaviate tenant %s was removed by another process", requests.tenant_name(domain_id))
            if not create:
                return missing
            return work(self._tenant(domain_id, create=True))

    # --- writes -------------------------------------------------------------------
    def upsert(self, items: Sequence[VectorItem]) -> None:
        by_domain: dict[int, list[VectorItem]] = defaultdict(list)
        for item in items:
            by_domain[item.domain_id].append(item)
        created = _document_created_at({item.document_id for item in items})
        for domain_id, domain_items in by_domain.items():
            self._import(domain_id, domain_items, created)

    def _import(self, domain_id: int, items: list[VectorItem], created: dict) -> None:
        collection = self._tenant(domain_id, create=True)
        pending = [requests.batch_object(item, created_at=created.get(item.document_id)) for item in items]
        recreated = False
        for attempt in range(1, self.batch_retries + 1):
            with collection.batch.fixed_size(batch_size=self.batch_size) as batch:
                for obj in pending:
                    batch.add_object(**obj)
            failed = collection.batch.failed_objects
            if not failed:
                return
            failed_ids = {str(f.object_.uuid) for f in failed}
            reasons = sorted({f.message for f in failed})[:3]
            logger.warning(
                "weaviate import: %d of %d objects failed in tenant %s (attempt %d): %s",
                len(failed_ids),
                len(pending),
                requests.tenant_name(domain_id),
                attempt,
                reasons,
            )
            pending = [obj for obj in pending if str(obj["uuid"]) in failed_ids]
            if not recreated and any(tenant_missing(reason) for reason in reasons):
                # Removed by another process since it was cached: create it again, once.
                self._forget_tenant(domain_id)
                collection = self._tenant(domain_id, create=True)
                recreated = True
                continue
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise VectorStoreError(
            f"Weaviate rejected {len(pending)} object(s) in tenant {requests.tenant_name(domain_id)} "
            f"after {self.batch_retries} attempts: {reasons}"
        )

    def delete_version(self, *, domain_id: int, version_id: int) -> None:
        def delete(collection) -> None:
            # delete_many is capped per call by the server (QUERY_MAXIMUM_RESULTS): repeat until none match.
            for _ in range(10_000):
                result = collection.data.delete_many(where=requests.version_filter(version_id))
                if result.failed:
                    raise VectorStoreError(
                        f"Weaviate failed to delete {result.failed} object(s) of version {version_id} "
                        f"in tenant {requests.tenant_name(domain_id)}"
                    )
                if not result.matches:
                    return

        # A tenant that is gone holds nothing to delete.
        self._in_tenant(domain_id, delete, create=False)

    def delete_domain(self, *, domain_id: int) -> None:
        collection = self.ensure_collection()
        name = requests.tenant_name(domain_id)
        if collection.tenants.exists(name):
            collection.tenants.remove([name])
        self._tenants.discard(name)

    # --- reads --------------------------------------------------------------------
    def _per_tenant(self, domain_ids: Sequence[int], query):
        """The objects ``query(collection)`` returns in each domain's tenant (none for a domain without one)."""
        for domain_id in sorted(set(domain_ids)):
            yield from self._in_tenant(domain_id, lambda c: list(query(c).objects), create=False, missing=[])

    def search(
        self, *, domain_ids: Sequence[int], vector: np.ndarray, k: int, filters: VectorFilter | None = None
    ) -> list[VectorHit]:
        query = requests.near_vector_query(vector=np.asarray(vector, dtype=np.float32).tolist(), k=k, filters=filters)
        hits = [
            # Cosine distance in [0, 2]; the port speaks cosine similarity.
            VectorHit(chunk_id=int(obj.properties["chunk_id"]), score=1.0 - float(obj.metadata.distance))
            for obj in self._per_tenant(domain_ids, lambda c: c.query.near_vector(**query))
        ]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def keyword_search(
        self, *, domain_ids: Sequence[int], text: str, k: int, filters: VectorFilter | None = None
    ) -> list[VectorHit]:
        """Weaviate's BM25 over the chunk text; score is BM25 (not comparable across tenants' corpora)."""
        query = requests.keyword_query(text=text, k=k, filters=filters)
        hits = [
            VectorHit(chunk_id=int(obj.properties["chunk_id"]), score=float(obj.metadata.score or 0.0))
            for obj in self._per_tenant(domain_ids, lambda c: c.query.bm25(**query))
        ]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def counts(self, *, domain_id: int) -> dict[int, int]:
        query = requests.version_counts_query(limit=self.version_group_limit)
        groups = self._in_tenant(domain_id, lambda c: c.aggregate.over_all(**query).groups, create=False, missing=[])
        if len(groups) >= self.version_group_limit:
            # Some versions may be cut off: reconciling on a partial view would delete live ones.
            raise VectorStoreError(
                f"tenant {requests.tenant_name(domain_id)} holds {self.version_group_limit} versions or more; "
                "raise the store's version_group_limit"
            )
        return {int(group.grouped_by.value): int(group.total_count) for group in groups}

    def version_members(self, *, domain_id: int) -> dict[int, set[str]]:
        """Per version: its chunk ids as stored (reconciliation checksums)."""

        def read(collection) -> dict[int, set[str]]:
            members: dict[int, set[str]] = defaultdict(set)
            for obj in collection.iterator(return_properties=["chunk_id", "version_id"]):
                members[int(obj.properties["version_id"])].add(str(int(obj.properties["chunk_id"])))
            return dict(members)

        return self._in_tenant(domain_id, read, create=False, missing={})

    def health(self) -> HealthStatus:
        try:
            ready = self.client.is_ready()
        except Exception as exc:  # report, never raise
            return HealthStatus(ok=False, detail=f"weaviate unreachable at {self.url}: {type(exc).__name__}")
        return HealthStatus(
            ok=bool(ready),
            detail=f"weaviate at {self.url}" + ("" if ready else " (not ready)"),
            extra={"collection": self.collection_name},
        )


def _document_created_at(document_ids: set[int]) -> dict:
    return dict(Document.objects.filter(pk__in=document_ids).values_list("pk", "created_at"))


def close_all() -> None:
    for store in list(_open_stores):
        try:
            store.close()
        except Exception:  # shutting down: log and go on
            logger.warning("closing a Weaviate client failed", exc_info=True)


def _connect_worker_shutdown() -> None:
    worker_process_shutdown.connect(
        lambda **kwargs: close_all(), weak=False, dispatch_uid="heysh-weaviate-close-process"
    )
    worker_shutdown.connect(lambda **kwargs: close_all(), weak=False, dispatch_uid="heysh-weaviate-close-worker")


_connect_worker_shutdown()
