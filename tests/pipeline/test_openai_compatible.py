"""The LLM extractor and the embeddings backend against a local stand-in for an
OpenAI-compatible server (no real model is reachable here): request shape, strict
parsing, type validation, caching by (chunk hash, prompt version, model)."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest

from apps.search.backends.embeddings.openai import OpenAICompatibleEmbedder
from apps.search.backends.extractors.llm import ANSWER_SCHEMA, PROMPT_VERSION, OpenAICompatibleExtractor
from apps.search.extraction import extractions_cached
from apps.search.models import ExtractionCache
from tests.pipeline.stand_in import StandInServer

TEXT = "Grace Hopper worked at Remington Rand. COBOL uses English-like syntax."
ANSWER = {
    "entities": [
        {"name": "Grace Hopper", "type": "person"},
        {"name": "Remington Rand", "type": "organization"},
        {"name": "COBOL", "type": "programming-language"},  # not an EntityType: becomes "other"
        {"name": "Ada Lovelace", "type": "person"},  # not in the passage: dropped
    ],
    "relations": [
        {"source": "Grace Hopper", "target": "Remington Rand", "type": "works_for"},
        {"source": "COBOL", "target": "Grace Hopper", "type": "invented_by"},  # unknown type: related_to
        {"source": "Ada Lovelace", "target": "COBOL", "type": "uses"},  # unknown entity: dropped
    ],
}


def chat_answer(content: str) -> dict:
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def test_llm_extractor_sends_json_mode_request_and_validates_the_answer():
    with StandInServer(lambda r: (200, chat_answer(json.dumps(ANSWER)))) as server:
        extractor = OpenAICompatibleExtractor(base_url=server.url + "/v1", api_key="sk-test", model="tiny-model")
        (result,) = extractor.extract([TEXT])
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    body = request.json()
    assert body["model"] == "tiny-model" and body["temperature"] == 0
    assert body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "knowledge_graph", "strict": True, "schema": ANSWER_SCHEMA},
    }
    assert body["messages"][0]["role"] == "system" and "JSON" in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": TEXT}
    assert [(e.name, e.type, TEXT[e.start : e.end]) for e in result.entities] == [
        ("Grace Hopper", "person", "Grace Hopper"),
        ("Remington Rand", "organization", "Remington Rand"),
        ("COBOL", "other", "COBOL"),
    ]
    assert [(r.source, r.target, r.type) for r in result.relations] == [
        ("Grace Hopper", "Remington Rand", "works_for"),
        ("COBOL", "Grace Hopper", "related_to"),
    ]


def test_json_object_mode_for_servers_without_structured_outputs():
    with StandInServer(lambda r: (200, chat_answer(json.dumps(ANSWER)))) as server:
        OpenAICompatibleExtractor(base_url=server.url, model="m", structured=False).extract([TEXT])
    assert server.requests[0].json()["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("content", ["not json at all", "[1, 2]", '{"entities": [{"type": "person"}]}', '{"entities": {}}'])
def test_a_malformed_answer_fails_its_chunk_only(content):
    answers = iter([content, json.dumps(ANSWER)])
    with StandInServer(lambda r: (200, chat_answer(next(answers)))) as server:
        bad, good = OpenAICompatibleExtractor(base_url=server.url, model="tiny-model").extract([TEXT, TEXT])
    assert bad.error and bad.entities == () and bad.relations == ()
    assert not good.error and {e.name for e in good.entities} == {"Grace Hopper", "Remington Rand", "COBOL"}


def test_server_errors_are_retried_with_backoff_then_raised():
    with StandInServer(lambda r: (503, {"error": "overloaded"})) as server:
        started = time.monotonic()
        with pytest.raises(httpx.HTTPStatusError):
            OpenAICompatibleExtractor(base_url=server.url, model="m", max_retries=2, backoff=0.05).extract([TEXT])
        waited = time.monotonic() - started
    assert len(server.requests) == 3, "one try and two retries"
    assert waited >= 0.05 + 0.1, "exponential backoff between the tries"


def test_a_rate_limit_is_retried_after_the_servers_retry_after():
    answers = iter([(429, {"error": "slow down"}, {"Retry-After": "0.3"}), (200, chat_answer(json.dumps(ANSWER)))])
    with StandInServer(lambda r: next(answers)) as server:
        started = time.monotonic()
        (result,) = OpenAICompatibleExtractor(base_url=server.url, model="m", backoff=0.01).extract([TEXT])
        waited = time.monotonic() - started
    assert len(server.requests) == 2 and waited >= 0.3
    assert {e.name for e in result.entities} == {"Grace Hopper", "Remington Rand", "COBOL"}


def test_a_client_error_is_not_retried():
    with StandInServer(lambda r: (401, {"error": "bad key"})) as server:
        with pytest.raises(httpx.HTTPStatusError):
            OpenAICompatibleExtractor(base_url=server.url, model="m", backoff=0.01).extract([TEXT])
    assert len(server.requests) == 1


def test_a_slow_server_times_out_after_its_retries():
    def slow(request):
        time.sleep(0.5)
        return 200, chat_answer(json.dumps(ANSWER))

    with StandInServer(slow) as server:
        extractor = OpenAICompatibleExtractor(base_url=server.url, model="m", timeout=0.1, max_retries=1, backoff=0.01)
        with pytest.raises(httpx.TimeoutException):
            extractor.extract([TEXT])
    assert len(server.requests) == 2


@pytest.mark.django_db
def test_a_failed_chunk_is_not_cached_and_is_tried_again():
    answers = iter(["{not json", json.dumps(ANSWER), json.dumps(ANSWER)])
    with StandInServer(lambda r: (200, chat_answer(next(answers)))) as server:
        extractor = OpenAICompatibleExtractor(base_url=server.url, model="tiny-model")
        first = extractions_cached(chunks=[("bad", TEXT), ("good", TEXT + " Again.")], extractor=extractor)
        assert first["bad"].error and not first["good"].error
        assert set(ExtractionCache.objects.values_list("chunk_hash", flat=True)) == {"good"}
        second = extractions_cached(chunks=[("bad", TEXT), ("good", TEXT + " Again.")], extractor=extractor)
    assert len(server.requests) == 3, "only the failed chunk is asked again"
    assert not second["bad"].error and second["bad"].entities


@pytest.mark.django_db
def test_llm_results_are_cached_by_chunk_hash_prompt_version_and_model():
    with StandInServer(lambda r: (200, chat_answer(json.dumps(ANSWER)))) as server:
        extractor = OpenAICompatibleExtractor(base_url=server.url, model="tiny-model")
        first = extractions_cached(chunks=[("h1", TEXT), ("h2", TEXT + " Again.")], extractor=extractor)
        second = extractions_cached(chunks=[("h1", TEXT), ("h2", TEXT + " Again.")], extractor=extractor)
        assert len(server.requests) == 2, "the second pass is served from the cache"
        other_model = OpenAICompatibleExtractor(base_url=server.url, model="bigger-model")
        extractions_cached(chunks=[("h1", TEXT)], extractor=other_model)
        assert len(server.requests) == 3, "another model is another cache key"
    assert first == second
    assert set(ExtractionCache.objects.values_list("chunk_hash", "prompt_version", "model")) == {
        ("h1", PROMPT_VERSION, "tiny-model"), ("h2", PROMPT_VERSION, "tiny-model"), ("h1", PROMPT_VERSION, "bigger-model"),
    }


def test_embedder_batches_orders_and_normalizes():
    def respond(request):
        texts = request.json()["input"]
        # answered out of order, as the API allows: the index field decides
        data = [{"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(texts)]
        return 200, {"object": "list", "data": list(reversed(data)), "model": request.json()["model"]}

    with StandInServer(respond) as server:
        embedder = OpenAICompatibleEmbedder(base_url=server.url + "/v1", model="embed-small", batch_size=2)
        vectors = embedder.embed_documents(["a", "bbb", "cc"])
    assert [r.path for r in server.requests] == ["/v1/embeddings", "/v1/embeddings"]
    assert [r.json()["input"] for r in server.requests] == [["a", "bbb"], ["cc"]]
    assert vectors.dtype == np.float32 and vectors.shape == (3, 3)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(vectors[1], np.array([3.0, 1.0, 0.0]) / np.sqrt(10))
    assert embedder.dimension == 3 and embedder.model_name == "embed-small"


def test_embedder_rejects_a_short_answer():
    with StandInServer(lambda r: (200, {"data": [{"index": 0, "embedding": [1.0]}]})) as server:
        with pytest.raises(ValueError, match="1 vectors for 2 texts"):
            OpenAICompatibleEmbedder(base_url=server.url, model="m").embed_documents(["a", "b"])
