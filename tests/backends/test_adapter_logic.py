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
        domain_id=1, document_id=2, version_id=3, document_title="t", chunk_ids=(10,),
        entities=(GraphEntity(key="a", name="A", type="person"),), relations=(),
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
    runs = [entry for entry in neo4j_store.log[writes[0]:] if entry[0] == "run"]
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
    return [VectorItem(chunk_id=i, document_id=1, version_id=2, domain_id=3, vector=np.ones(4, np.float32))
            for i in range(n)]


def test_weaviate_retries_only_the_failed_objects(monkeypatch):
    store, collection = weaviate_store(monkeypatch, fail_plan=[2, 0])
    store.upsert(items(5))
    assert [len(a) for a in collection.attempts] == [5, 2]
    assert collection.attempts[1] == collection.attempts[0][:2]


def test_weaviate_gives_up_with_a_clear_error(monkeypatch):
    store, collection = weaviate_store(monkeypatch, fail_plan=[3, 2, 1])
    with pytest.raises(VectorStoreError, match=r"rejected 1 object\(s\) in tenant domain-3 after 3 attempts.*vector lengths"):
        store.upsert(items(4))
    assert [len(a) for a in collection.attempts] == [4, 3, 2]


def test_weaviate_client_is_lazy(monkeypatch):
    calls = []
    import weaviate

    monkeypatch.setattr(weaviate, "connect_to_custom", lambda **kw: calls.append(kw) or SimpleNamespace(close=lambda: None))
    store = WeaviateVectorStore(url="https://weaviate.example:8443", grpc_port=50052, api_key="secret-key")
    assert calls == []
    first = store.client
    assert store.client is first
    assert len(calls) == 1
    kw = calls[0]
    assert (kw["http_host"], kw["http_port"], kw["http_secure"], kw["grpc_port"], kw["grpc_secure"]) == (
        "weaviate.example", 8443, True, 50052, True)
    assert kw["auth_credentials"].api_key == "secret-key"


def test_module_registers_shutdown_hook_once():
    from celery.signals import worker_process_shutdown

    uids = [key for key, _ in worker_process_shutdown.receivers if "heysh-neo4j-close-process" in str(key)]
    assert len(uids) == 1
    assert neo4j_module.close_all
