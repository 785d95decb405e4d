"""/health is liveness; /ready checks each component and answers 503 naming the one that is down."""

import threading

import pytest
from django.conf import settings
from django.test import override_settings

from apps.search.backends.embeddings import base
from apps.search.backends.embeddings.hashing import HashingEmbedder

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_health_is_always_ok(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_reports_every_component(client):
    body = client.get("/ready").json()
    assert {"database", "cache", "broker", "graph_stores.default", "vector_stores.default"} <= set(body["components"])
    for name in ("database", "cache", "broker", "graph_stores.default", "vector_stores.default"):
        assert body["components"][name]["ok"] is True, (name, body["components"][name])
    if settings.DATABASE_URL:
        assert body["components"]["database"]["detail"] == "postgresql"
    else:
        assert body["components"]["database"]["detail"] == "sqlite"
    if settings.REDIS_URL:
        assert body["components"]["broker"]["detail"] == "redis"
        assert body["components"]["cache"]["detail"] == "RedisCache"
    else:
        assert body["components"]["broker"]["detail"] == "sqlalchemy"
        assert body["components"]["cache"]["detail"] == "FileBasedCache"


def test_ready_is_503_when_the_broker_is_down(client):
    with override_settings(CELERY_BROKER_URL=UNREACHABLE_REDIS):
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["broker"]["ok"] is False
    assert "Error" in body["components"]["broker"]["detail"]
    assert body["components"]["database"]["ok"] is True
    assert body["components"]["cache"]["ok"] is True


def test_ready_is_503_when_the_cache_is_down(client):
    broken = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE_REDIS}}
    with override_settings(CACHES=broken):
        response = client.get("/ready")
    assert response.status_code == 503
    components = response.json()["components"]
    assert components["cache"]["ok"] is False
    assert components["database"]["ok"] is True
    assert components["broker"]["ok"] is True


def test_ready_is_503_when_a_backend_fails(client):
    broken = {"default": {"BACKEND": "apps.search.backends.graph.missing.NoSuchGraphStore", "OPTIONS": {}}}
    with override_settings(GRAPH_STORES=broken):
        response = client.get("/ready")
    assert response.status_code == 503
    components = response.json()["components"]
    assert components["graph_stores.default"]["ok"] is False
    assert "cannot load BACKEND" in components["graph_stores.default"]["detail"]
    assert components["vector_stores.default"]["ok"] is True


class SlowToWarmEmbedder(HashingEmbedder):
    """A stand-in model whose warm-up waits for the test to release it (no real model loads here)."""

    release = threading.Event()

    def warm_key(self):
        return "test:slow-to-warm"

    def warm(self, *, documents=False):
        self.release.wait(10)
        self.embed_query("warm-up")


def test_ready_waits_for_the_embedding_model_then_reports_ready(client, monkeypatch):
    """/ready is 503 while the model warms (the probe starts the warm-up, never loads in-line), 200 once warm."""
    monkeypatch.setattr(base, "_warm_threads", {})
    monkeypatch.setattr(base, "_warm_done", {})
    SlowToWarmEmbedder.release.clear()
    with override_settings(EMBEDDERS={"default": {"BACKEND": "tests.core.test_readiness.SlowToWarmEmbedder"}}):
        response = client.get("/ready")
        assert response.status_code == 503
        component = response.json()["components"]["embedders.default"]
        assert component["ok"] is False and "warming up" in component["detail"]
        assert client.get("/ready").status_code == 503  # still warming: one warm-up, not one per probe
        SlowToWarmEmbedder.release.set()
        base._warm_threads["test:slow-to-warm"].join(10)
        response = client.get("/ready")
        assert response.status_code == 200, response.json()
        assert response.json()["components"]["embedders.default"]["ok"] is True


def test_ready_reports_a_failed_warm_up(client, monkeypatch):
    monkeypatch.setattr(base, "_warm_threads", {})
    monkeypatch.setattr(base, "_warm_done", {"onnx:/missing:0:onnx": "warm-up failed: OnnxExportError: no model"})
    broken = {
        "default": {
            "BACKEND": "apps.search.backends.embeddings.onnx.OnnxEmbedder",
            "OPTIONS": {"onnx_path": "/missing"},
        }
    }
    with override_settings(EMBEDDERS=broken):
        response = client.get("/ready")
    assert response.status_code == 503
    assert "no model" in response.json()["components"]["embedders.default"]["detail"]
