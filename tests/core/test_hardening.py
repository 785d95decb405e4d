"""Hostile input gets a clear 4xx in the one error shape, never a 500; lists stay bounded."""

from __future__ import annotations

import tracemalloc

import pytest
from django.test import override_settings

from apps.core.pagination import MAX_LIMIT
from apps.documents.models import Chunk, Document, DocumentStatus, DocumentVersion

pytestmark = pytest.mark.django_db


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()["error"]
    assert body["code"] == code
    return body


def test_json_nested_fifty_thousand_deep_is_a_400_even_anonymously(api_client):
    body = "[" * 50_000 + "]" * 50_000
    response = api_client.post("/api/v1/auth/token/", data=body, content_type="application/json")
    assert "nested too deeply" in _error(response, 400, "parse_error")["message"]


@pytest.mark.parametrize("path", ["/api/v1/domains/", "/api/v1/documents", "/api/v1/entities"])
def test_an_absurd_limit_or_offset_is_bounded_not_a_database_error(owner_client, path):
    response = owner_client.get(f"{path}?limit=99999999999999999999")
    assert response.status_code == 400 and "limit" in response.json()["error"]["detail"], response.content[:300]
    response = owner_client.get(f"{path}?offset=99999999999999999999")
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("url", ["/api/v1/documents?domain=%00", "/api/v1/entities?q=%00", "/admin/?q=a%00b"])
def test_a_nul_byte_in_the_query_string_is_a_400(owner_client, url):
    assert "NUL" in _error(owner_client.get(url), 400, "bad_request")["message"]


@override_settings(DEBUG=True)
def test_api_routes_answer_with_and_without_their_trailing_slash(owner_client, domain):
    created = owner_client.post("/api/v1/domains", {"slug": "no-slash", "name": "No slash"}, format="json")
    assert created.status_code == 201, created.content[:300]
    assert owner_client.get("/api/v1/documents/").status_code == 200
    assert owner_client.get(f"/api/v1/domains/{domain.slug}").json()["slug"] == domain.slug


def test_a_chunk_page_of_a_huge_document_stays_small_in_memory(owner_client, domain, user):
    """20,000 chunks of a 4 MB text: the page is capped and no chunk drags the version's text along."""
    text = "x" * 4_000_000
    document = Document.objects.create(domain=domain, title="Huge", source="text", created_by=user, status=DocumentStatus.READY)
    version = DocumentVersion.objects.create(document=document, domain=domain, number=1, text=text, status=DocumentStatus.READY)
    Document.objects.filter(pk=document.pk).update(current_version=version)
    Chunk.objects.bulk_create(
        [Chunk(version=version, document=document, domain=domain, ordinal=i, text=text[i * 200:(i + 1) * 200], start=i * 200,
               end=(i + 1) * 200, content_hash=f"{i:064d}") for i in range(20_000)],
        batch_size=2000,
    )
    tracemalloc.start()
    try:
        response = owner_client.get(f"/api/v1/documents/{document.pk}/chunks?limit={MAX_LIMIT}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert len(response.json()["results"]) == MAX_LIMIT
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB"
    tracemalloc.start()
    try:
        assert owner_client.get(f"/api/v1/documents/{document.pk}").status_code == 200
        assert owner_client.get("/api/v1/documents").status_code == 200
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3_000_000, f"detail and list loaded the 4 MB text ({peak / 2**20:.1f} MB peak)"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_upload_limit_is_a_413_in_the_error_shape(owner_client, domain):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, "text": "word " * 1000}, format="json")
    assert "larger than" in _error(response, 413, "too_large")["message"]


def test_pasted_text_over_five_megabytes_is_accepted_below_the_document_limit(owner_client, domain):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, "text": "words of text\n" * 450_000}, format="json")
    assert response.status_code in (201, 202), response.content[:300]


def test_a_url_with_an_invalid_international_host_name_is_refused_at_intake(owner_client, domain):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, "url": "http://bücher..example/page"}, format="json")
    assert "international domain name" in _error(response, 400, "invalid_url")["message"]


def test_a_domain_description_has_a_length_limit(owner_client, domain):
    response = owner_client.patch(f"/api/v1/domains/{domain.slug}/", {"description": "x" * 5001}, format="json")
    assert _error(response, 400, "invalid")["detail"]["description"]
    created = owner_client.post("/api/v1/domains/", {"slug": "long", "name": "Long", "description": "y" * 5001}, format="json")
    _error(created, 400, "invalid")


@pytest.mark.parametrize("text", [12345, True, ["a list"], {"an": "object"}])
def test_pasted_text_that_is_not_a_string_is_a_400_and_creates_nothing(owner_client, domain, text):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, "text": text}, format="json")
    assert _error(response, 400, "invalid")["detail"]["text"] == ["Send a string."]
    assert not Document.objects.filter(domain=domain).exists()


def test_an_api_key_name_that_is_not_a_string_is_a_400(owner_client, domain):
    response = owner_client.post(f"/api/v1/domains/{domain.slug}/api-keys/", {"name": 42, "role": "viewer"}, format="json")
    assert _error(response, 400, "invalid")["detail"]["name"] == ["Send a string."]
    assert not domain.api_keys.exists()


def test_an_empty_entity_type_filter_is_refused_like_any_unknown_type(owner_client):
    assert "Unknown entity type ''" in _error(owner_client.get("/api/v1/entities?type="), 400, "invalid_type")["message"]
    assert owner_client.get("/api/v1/entities").status_code == 200
