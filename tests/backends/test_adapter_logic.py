"""Adapter logic around the third-party clients, with recording test doubles.

No Neo4j or Weaviate server can run here, so these doubles stand in for the driver /
client objects (they record calls and can fail on purpose). They prove the adapters'
own logic: managed transactions, per-process lazy clients, shutdown hooks, failed-object
retries. Behaviour against real servers is the ``live`` contract suites' job.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from apps.search.backends.graph import neo4j as neo4j_module
from apps.search.backends.graph.neo4j import Neo4jGraphStore
from apps.search.backends.types import GraphContribution, GraphEntity, GraphMention, VectorItem
from apps.search.backends.vectors import weaviate as weaviate_module
from apps.search.backends.vectors.weaviate import VectorStoreError, WeaviateVectorStore


# --- Neo4j --------------------------------------------------------------------------
class FakeResult:
    def __init__(self, record=None):
        self.record = record

    def single(self):
        return self.record

    def consume(self):
        return None


class FakeTx:
    def __init__(self, log):
        self.log = log

    def run(self, text, parameters):
        self.log.append(("run", text, parameters))
        if "RETURN keys, documents" in text:
            return FakeResult({"keys": ["old"], "documents": [1]})
        if "AS keys" in text:
            return FakeResult({"keys": []})
        return FakeResult()


class FakeSession:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute_write(self, work, *args, **kwargs):
        self.log.append(("execute_write",))
        return work(FakeTx(self.log), *args, **kwargs)


class FakeDriver:
    def __init__(self, log):
        self.log = log
        self.closed = False

    def session(self, database):
        self.log.append(("session", database))
        return FakeSession(self.log)

    def execute_query(self, text, parameters=None, **kwargs):
        self.log.append(("query", text, kwargs.get("routing_")))
        return [], None, None

    def close(self):
        self.closed = True


@pytest.fixture
def neo4j_store(monkeypatch):
    log, drivers = [], []

    def driver(uri, auth, **config):
        drivers.append(FakeDriver(log))
        return drivers[-1]

    import neo4j

    monkeypatch.setattr(neo4j.GraphDatabase, "driver", staticmethod(driver))
    store = Neo4jGraphStore(uri="bolt://neo4j.invalid:7687", password="pw")
    store.log, store.drivers = log, drivers
    return store


def contribution():
    return GraphContribution(
        domain_id=1,
        document_id=2,
        version_id=3,
        document_title="t",
        chunk_ids=(10,),
        entities=(GraphEntity(key="a", name="A", type="person"),),
        relations=(),
        mentions=(GraphMention(entity_key="a", chunk_id=10),),
    )


def test_neo4j_driver_is_lazy_and_built_once_per_process(neo4j_store, monkeypatch):
    assert neo4j_store.drivers == []  # nothing at construction
    first = neo4j_store.driver
    assert neo4j_store.driver is first and len(neo4j_store.drivers) == 1
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as if forked into a worker process
    assert neo4j_store.driver is not first and len(neo4j_store.drivers) == 2


def test_neo4j_replace_version_is_one_managed_transaction_remove_then_merge(neo4j_store):
    neo4j_store.replace_version(contribution(), previous_version_ids=[2])
    writes = [i for i, entry in enumerate(neo4j_store.log) if entry[0] == "execute_write"]
    assert len(writes) == 1
    runs = [entry for entry in neo4j_store.log[writes[0] :] if entry[0] == "run"]
    assert runs[0][2]["versions"] == [2, 3]  # previous versions and the version itself are removed first
    assert "DETACH DELETE c" in runs[0][1]
    assert any("MERGE (d:Document" in r[1] for r in runs[1:])
    assert [r[1] for r in runs].index(next(r[1] for r in runs if "MERGE (d:Document" in r[1])) > 0
    schema = [e for e in neo4j_store.log if e[0] == "query" and "CONSTRAINT" in e[1]]
    assert schema, "the schema is ensured before the first write"


def test_neo4j_reads_are_routed_to_readers(neo4j_store):
    from neo4j import RoutingControl

    neo4j_store.counts(domain_id=1)
    reads = [e for e in neo4j_store.log if e[0] == "query" and "MENTIONED_IN" in e[1]]
    assert reads and reads[-1][2] == RoutingControl.READ


def test_neo4j_drivers_close_on_worker_shutdown(neo4j_store):
    from celery.signals import worker_process_shutdown

    driver = neo4j_store.driver
    worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert driver.closed is True
    assert neo4j_store._driver is None


def test_neo4j_health_reports_unreachable_without_raising(neo4j_store, monkeypatch):
    def refuse():
        raise ConnectionRefusedError("nope")

    monkeypatch.setattr(FakeDriver, "verify_connectivity", lambda self: refuse(), raising=False)
    status = neo4j_store.health()
    assert status.ok is False and "ConnectionRefusedError" in status.detail and "pw" not in status.detail


# --- Weaviate -----------------------------------------------------------------------
class FakeBatch:
    def __init__(self, collection):
        self.collection = collection

    def add_object(self, *, uuid, properties, vector):
        self.collection.attempts[-1].append(uuid)


class FakeBatchWrapper:
    def __init__(self, collection):
        self.collection = collection
        self.failed_objects = []

    @contextmanager
    def fixed_size(self, batch_size):
        self.collection.attempts.append([])
        yield FakeBatch(self.collection)
        sent = self.collection.attempts[-1]
        fail = self.collection.fail_plan.pop(0) if self.collection.fail_plan else 0
        self.failed_objects = [
            SimpleNamespace(message="vector lengths don't match", object_=SimpleNamespace(uuid=u)) for u in sent[:fail]
        ]


class FakeCollection:
    def __init__(self, fail_plan):
        self.fail_plan = list(fail_plan)
        self.attempts: list[list] = []
        self.batch = FakeBatchWrapper(self)


def weaviate_store(monkeypatch, fail_plan):
    store = WeaviateVectorStore(url="http://weaviate.invalid:8080", api_key="k", batch_retries=3)
    collection = FakeCollection(fail_plan)
    monkeypatch.setattr(store, "_tenant", lambda domain_id, create: collection)
    monkeypatch.setattr(weaviate_module, "_document_created_at", lambda ids: {})
    monkeypatch.setattr(weaviate_module.time, "sleep", lambda s: None)
    return store, collection


def items(n):
    return [
        VectorItem(chunk_id=i, document_id=1, version_id=2, domain_id=3, vector=np.ones(4, np.float32))
        for i in range(n)
    ]


def test_weaviate_retries_only_the_failed_objects(monkeypatch):
    store, collection = weaviate_store(monkeypatch, fail_plan=[2, 0])
    store.upsert(items(5))
    assert [len(a) for a in collection.attempts] == [5, 2]
    assert collection.attempts[1] == collection.attempts[0][:2]


def test_weaviate_gives_up_with_a_clear_error(monkeypatch):
    store, collection = weaviate_store(monkeypatch, fail_plan=[3, 2, 1])
    with pytest.raises(
        VectorStoreError, match=r"rejected 1 object\(s\) in tenant domain-3 after 3 attempts.*vector lengths"
    ):
        store.upsert(items(4))
    assert [len(a) for a in collection.attempts] == [4, 3, 2]


def test_weaviate_client_is_lazy(monkeypatch):
    calls = []
    import weaviate

    monkeypatch.setattr(
        weaviate, "connect_to_custom", lambda **kw: calls.append(kw) or SimpleNamespace(close=lambda: None)
    )
    store = WeaviateVectorStore(url="https://weaviate.example:8443", grpc_port=50052, api_key="secret-key")
    assert calls == []
    first = store.client
    assert store.client is first
    assert len(calls) == 1
    kw = calls[0]
    assert (kw["http_host"], kw["http_port"], kw["http_secure"], kw["grpc_port"], kw["grpc_secure"]) == (
        "weaviate.example",
        8443,
        True,
        50052,
        True,
    )
    assert kw["auth_credentials"].api_key == "secret-key"


def test_module_registers_shutdown_hook_once():
    from celery.signals import worker_process_shutdown

    uids = [key for key, _ in worker_process_shutdown.receivers if "heysh-neo4j-close-process" in str(key)]
    assert len(uids) == 1
    assert neo4j_module.close_all


class FakeTenants:
    def __init__(self, server):
        self.server = server

    def exists(self, name):
        return name in self.server.tenants

    def create(self, tenants):
        self.server.log.append(("create_tenant", tenants[0].name))
        self.server.tenants.add(tenants[0].name)

    def remove(self, names):
        self.server.log.append(("remove_tenant", *names))
        self.server.tenants.difference_update(names)


class TenantMissing(Exception):
    pass


class FakeTenantCollection:
    """A tenant-bound collection that answers as the server does once its tenant is gone."""

    def __init__(self, server, name):
        self.server, self.name = server, name
        self.query = SimpleNamespace(near_vector=self._near_vector)
        self.data = SimpleNamespace(delete_many=self._delete_many)
        self.aggregate = SimpleNamespace(over_all=self._over_all)

    def _check(self):
        if self.name not in self.server.tenants:
            raise TenantMissing(
                f'Query call with protocol GRPC search failed with message tenant not found: "{self.name}"'
            )

    def _near_vector(self, **query):
        self._check()
        return SimpleNamespace(
            objects=[SimpleNamespace(properties={"chunk_id": 1}, metadata=SimpleNamespace(distance=0.0))]
        )

    def _delete_many(self, where):
        self._check()
        self.server.log.append(("delete_many", self.name))
        return SimpleNamespace(failed=0, matches=0)

    def _over_all(self, **query):
        self._check()
        self.server.log.append(("aggregate", query["group_by"].prop, query["group_by"].limit))
        return SimpleNamespace(
            groups=[
                SimpleNamespace(grouped_by=SimpleNamespace(value=v), total_count=2) for v in range(self.server.versions)
            ]
        )


class FakeCollectionRoot:
    def __init__(self, server):
        self.server = server
        self.tenants = FakeTenants(server)

    def with_tenant(self, name):
        return FakeTenantCollection(self.server, name)


class FakeWeaviateServer:
    def __init__(self):
        self.tenants: set[str] = set()
        self.log: list = []
        self.versions = 3
        self.closed = 0
        root = FakeCollectionRoot(self)
        self.collections = SimpleNamespace(exists=lambda name: True, get=lambda name: root)

    def close(self):
        self.closed += 1


@pytest.fixture
def weaviate_server(monkeypatch):
    import weaviate

    server = FakeWeaviateServer()
    monkeypatch.setattr(weaviate, "connect_to_custom", lambda **kw: server)
    return server


def test_weaviate_read_of_a_tenant_removed_elsewhere_is_empty_then_uncached(weaviate_server):
    store = WeaviateVectorStore(url="http://weaviate.invalid:8080")
    weaviate_server.tenants.add("domain-3")
    assert [h.chunk_id for h in store.search(domain_ids=[3], vector=np.ones(2), k=5)] == [1]
    weaviate_server.tenants.discard("domain-3")  # another process deleted the domain's tenant
    assert store.search(domain_ids=[3], vector=np.ones(2), k=5) == []
    assert "domain-3" not in store._tenants
    assert store.counts(domain_id=3) == {}
    assert ("create_tenant", "domain-3") not in weaviate_server.log  # reads never create a tenant


def test_weaviate_write_recreates_a_tenant_removed_elsewhere_once(weaviate_server, monkeypatch):
    store = WeaviateVectorStore(url="http://weaviate.invalid:8080")
    weaviate_server.tenants.add("domain-3")
    store._tenant(3, create=True)  # cached
    weaviate_server.tenants.discard("domain-3")
    calls = []

    def write(collection):
        calls.append(collection.name)
        collection._check()
        return "written"

    assert store._in_tenant(3, write, create=True) == "written"
    assert calls == ["domain-3", "domain-3"]
    assert weaviate_server.log.count(("create_tenant", "domain-3")) == 1


def test_weaviate_import_recreates_the_tenant_when_the_batch_says_it_is_gone(monkeypatch):
    store, collection = weaviate_store(monkeypatch, fail_plan=[5, 0])
    store._tenants.add("domain-3")
    recreated = []
    monkeypatch.setattr(store, "_tenant", lambda domain_id, create: recreated.append(create) or collection)

    original_failed = FakeBatchWrapper.fixed_size

    @contextmanager
    def gone(self, batch_size):
        with original_failed(self, batch_size) as batch:
            yield batch
        for failed in self.failed_objects:
            failed.message = 'tenant not found: "domain-3"'

    monkeypatch.setattr(FakeBatchWrapper, "fixed_size", gone)
    slept = []
    monkeypatch.setattr(weaviate_module.time, "sleep", slept.append)
    store.upsert(items(5))
    assert [len(a) for a in collection.attempts] == [5, 5]
    assert recreated == [True, True]  # first lookup, then the re-creation
    assert slept == []  # re-created and retried at once, no backoff


def test_weaviate_delete_version_in_a_vanished_tenant_is_a_no_op(weaviate_server):
    store = WeaviateVectorStore(url="http://weaviate.invalid:8080")
    weaviate_server.tenants.add("domain-4")
    store._tenant(4, create=False)
    weaviate_server.tenants.discard("domain-4")
    store.delete_version(domain_id=4, version_id=9)
    assert ("create_tenant", "domain-4") not in weaviate_server.log


def test_weaviate_counts_send_the_group_limit_and_refuse_a_cut_off_answer(weaviate_server):
    store = WeaviateVectorStore(url="http://weaviate.invalid:8080", version_group_limit=5)
    weaviate_server.tenants.add("domain-3")
    assert store.counts(domain_id=3) == {0: 2, 1: 2, 2: 2}
    assert ("aggregate", "version_id", 5) in weaviate_server.log
    weaviate_server.versions = 5
    with pytest.raises(VectorStoreError, match="domain-3 holds 5 versions or more"):
        store.counts(domain_id=3)


def test_weaviate_delete_domain_removes_its_tenant(weaviate_server):
    store = WeaviateVectorStore(url="http://weaviate.invalid:8080")
    weaviate_server.tenants.update({"domain-3", "domain-4"})
    store._tenant(3, create=False)
    store.delete_domain(domain_id=3)
    assert weaviate_server.tenants == {"domain-4"}
    assert "domain-3" not in store._tenants


def test_weaviate_clients_close_on_worker_shutdown(weaviate_server):
    from celery.signals import worker_shutdown

    store = WeaviateVectorStore(url="http://weaviate.invalid:8080")
    assert store.client is weaviate_server
    worker_shutdown.send(sender=None)
    assert weaviate_server.closed == 1
    assert store._client is None


def test_neo4j_reconcile_reads_page_until_a_short_page(neo4j_store, monkeypatch):
    """Each read is one bounded page; the next starts after the last key of the previous one."""
    neo4j_store.reconcile_page = 2
    sent = []
    chunks = [
        {"chunk": 1, "version": 7, "mentions": [{"key": "a", "name": "A", "type": "person", "count": 2}]},
        {"chunk": 2, "version": 7, "mentions": []},
        {"chunk": 3, "version": 8, "mentions": [{"key": "a", "name": "A", "type": "person", "count": 1}]},
    ]
    relations = [{"source": "a", "edges": [{"type": "USES", "target": "b", "weight": 2.0, "versions": [7, 8]}]}]

    def read(st):
        sent.append((st.text.split(" ")[1], st.parameters))
        after, page = st.parameters["after"], st.parameters["page"]
        if st.text.startswith("MATCH (c:Chunk"):
            return [r for r in chunks if r["chunk"] > after][:page]
        if st.text.startswith("MATCH (s:Entity"):
            return [r for r in relations if r["source"] > after][:page]
        return [{"version": 9}] if after < 9 else []  # a Version node with nothing else left

    monkeypatch.setattr(neo4j_store, "_read", read)
    members = neo4j_store.version_members(domain_id=1)
    assert members == {
        7: {"m:a@1", "e:a|A|person", "r:a|uses|b|2"},
        8: {"m:a@3", "e:a|A|person", "r:a|uses|b|2"},
        9: set(),
    }
    chunk_afters = [p["after"] for label, p in sent if label == "(c:Chunk"]
    assert chunk_afters == [-(2**63), 2]
    assert all(p["page"] == 2 for _, p in sent)
    sent.clear()
    assert neo4j_store.counts(domain_id=1) == {7: {"entities": 1, "mentions": 2}, 8: {"entities": 1, "mentions": 1}}


def test_neo4j_removing_a_version_drops_its_version_node(neo4j_store):
    neo4j_store.delete_version(domain_id=1, version_id=3)
    texts = [entry[1] for entry in neo4j_store.log if entry[0] == "run"]
    support = next(i for i, t in enumerate(texts) if "-[:SUPPORTS]->" in t and "r.versions" in t)
    nodes = next(i for i, t in enumerate(texts) if t.endswith("DETACH DELETE v"))
    assert support < nodes
