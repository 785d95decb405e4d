"""What schemathesis found (tests/api/test_schemathesis_live.py), pinned in fast in-process tests:
the service refuses what the schema does not allow and takes what it does."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from apps.bootstrap.models import DomainBootstrap
from apps.core.netguard import HTTP_URL_PATTERN
from apps.documents.models import Document
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": 0, "text": "Some text."},
        {"domain": 0, "text": "Some text."},
    ],
)
def test_document_fields_that_are_not_strings_are_refused(owner_client, domain, body):
    body = {"domain": domain.slug, **body}
    assert _error(owner_client.post("/api/v1/documents", body, format="json"), 400)["detail"]
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"query": "lift", "expand": 0},
        {"query": "lift", "k": "10"},
        {"query": "lift", "hops": 1.0},
        {"query": "lift", "filters": {"document_ids": ["1"]}},
        {"query": "lift", "domains": [0]},
    ],
)
def test_search_bodies_are_typed_as_the_schema_says(owner_client, domain, body):
    assert _error(owner_client.post("/api/v1/search", body, format="json"), 400)["code"] == "invalid"


def test_search_query_strings_are_typed_like_the_body(owner_client, domain):
    response = owner_client.get("/api/v1/search", {"q": "lift", "k": "3", "expand": "true", "hops": "2", "document_ids": "1,2"})
    assert response.status_code == 200, response.content
    assert (response.json()["k"], response.json()["expand"], response.json()["hops"]) == (3, True, 2)
    assert _error(owner_client.get("/api/v1/search", {"q": "lift", "expand": "1"}), 400)["code"] == "invalid"


def test_search_takes_json_only(owner_client, domain):
    response = owner_client.post("/api/v1/search", {"query": "lift", "expand": "0"}, format="multipart")
    assert response.status_code == 415


@pytest.mark.parametrize("name", ["\f", " ", "\u3000"])
def test_a_name_of_whitespace_is_refused_as_its_pattern_says(owner_client, domain, name):
    assert _error(owner_client.patch(f"/api/v1/domains/{domain.slug}/", {"name": name}, format="json"), 400)["detail"]["name"]
    assert re.search(r"\S", name) is None


@pytest.mark.parametrize(
    "url, accepted",
    [
        ("https://hooks.example.com/heysh?x=1#top", True),
        ("http://A", True),
        ("https://a.b:65535/p%20q", True),
        ("https://a.b:65536/", False),
        ("https://000.aaa.a", True),
        ("https://a.b/%zz", False),
        ("https://a.b/ü", False),
        (" https://a.b/", False),
        ("https://a.b/\n", False),
    ],
)
def test_the_webhook_url_pattern_and_the_validator_agree(owner_client, domain, url, accepted):
    response = owner_client.patch(f"/api/v1/domains/{domain.slug}/", {"webhook_url": url}, format="json")
    assert (response.status_code == 200) is accepted, response.content
    assert (re.fullmatch(HTTP_URL_PATTERN, url) is not None) is accepted


def test_seed_texts_may_come_as_one_json_part_of_a_form_and_are_validated(owner_client):
    bad = owner_client.post("/api/v1/bootstraps/", {"name": "Seeds", "seed_texts": '[{"title": ""}]'}, format="multipart")
    assert "seed_texts" in _error(bad, 400)["detail"]
    good = owner_client.post(
        "/api/v1/bootstraps/", {"name": "Seeds", "seed_texts": '[{"title": "A", "text": "Alpha text."}]'}, format="multipart"
    )
    assert good.status_code == 201, good.content
    seeds = DomainBootstrap.objects.get(domain__slug=good.json()["domain"]).seed_sources
    assert [s["title"] for s in seeds if s["kind"] == "text"] == ["A"]


def test_a_bootstrap_name_without_letters_gets_a_random_slug(owner_client):
    response = owner_client.post("/api/v1/bootstraps/", {"name": "!!!"}, format="json")
    assert response.status_code == 201, response.content
    assert re.fullmatch(r"domain-[0-9a-f]{8}", response.json()["domain"])


def test_a_taken_bootstrap_slug_is_a_409(owner_client, domain):
    assert _error(owner_client.post("/api/v1/bootstraps/", {"name": "Again", "slug": domain.slug}, format="json"), 409)


def test_request_changes_needs_a_comment_in_the_schema_too(schema):
    body = schema["paths"]["/api/v1/domains/{slug}/bootstrap/request-changes/"]["post"]["requestBody"]
    component = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][component]["required"] == ["comment"]


def test_a_new_version_without_a_body_refetches_only_url_documents(owner_client, domain):
    created = owner_client.post("/api/v1/documents", {"domain": domain.slug, "text": "First text."}, format="json")
    document_id = created.json()["document"]["id"]
    assert _error(owner_client.post(f"/api/v1/documents/{document_id}/versions"), 409)["code"] == "nothing_to_fetch"
    upload = SimpleUploadedFile("v2.txt", b"Second text.", content_type="text/plain")
    both = owner_client.post(f"/api/v1/documents/{document_id}/versions", {"file": upload, "text": "x"}, format="multipart")
    assert _error(both, 400)


def test_request_strings_exclude_nul_and_multipart_files_are_binary(schema):
    components = schema["components"]["schemas"]
    assert components["TokenObtainPairRequest"]["properties"]["username"]["pattern"] == r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    assert components["ApiKeyRequest"]["properties"]["name"]["pattern"] == r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    assert components["DomainRequest"]["properties"]["description"]["pattern"] == r"^[^\u0000]*$"
    upload = components["NewVersionFileFormRequest"]
    assert upload["properties"]["file"]["format"] == "binary" and upload["required"] == ["file"]
    assert "not" not in upload, "schemathesis cannot judge a binary part against a `not`"


def test_other_domains_slugs_are_404_not_400_in_search_and_entities(owner_client, domain, schema):
    other = DomainFactory()
    assert _error(owner_client.get("/api/v1/entities", {"domain": other.slug}), 404)
    assert "404" in schema["paths"]["/api/v1/entities"]["get"]["responses"]
    assert "404" in schema["paths"]["/api/v1/search"]["post"]["responses"]
