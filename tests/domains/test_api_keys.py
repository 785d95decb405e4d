"""Per-domain API keys: shown once, stored as a hash, scoped to one domain, revocable."""

import hashlib

import pytest
from rest_framework.test import APIClient

from apps.domains.models import ApiKey
from tests.domains.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def keys(slug):
    return f"/api/v1/domains/{slug}/api-keys/"


def test_create_returns_the_key_once_and_stores_only_its_hash(owner_client, domain):
    created = owner_client.post(keys(domain.slug), {"name": "ingest bot", "role": "editor"}, format="json")

    assert created.status_code == 201, created.json()
    raw = created.json()["key"]
    stored = ApiKey.objects.get(pk=created.json()["id"])
    assert raw.startswith(f"hk_{stored.prefix}_")
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    secret_part = raw.rsplit("_", 1)[1]
    assert all(secret_part not in str(value) for value in ApiKey.objects.filter(pk=stored.pk).values().first().values())

    listed = owner_client.get(keys(domain.slug)).json()["results"]
    assert [(k["name"], k["prefix"], k["role"], k["last_used_at"]) for k in listed] == [
        ("ingest bot", stored.prefix, "editor", None)
    ]
    assert "key" not in listed[0] and "key_hash" not in listed[0]
    detail = owner_client.get(f"{keys(domain.slug)}{stored.pk}/").json()
    assert "key" not in detail and detail["prefix"] == stored.prefix


def test_a_key_authenticates_records_last_use_and_stops_working_when_revoked(owner_client, domain):
    raw = owner_client.post(keys(domain.slug), {"name": "svc"}, format="json").json()["key"]
    service = APIClient()
    service.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    me = service.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["domains"] == [{"slug": domain.slug, "name": domain.name, "role": "viewer"}]
    api_key = ApiKey.objects.get(domain=domain)
    assert api_key.last_used_at is not None
    assert owner_client.get(keys(domain.slug)).json()["results"][0]["last_used_at"] is not None

    assert owner_client.delete(f"{keys(domain.slug)}{api_key.pk}/").status_code == 204
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    refused = service.get("/api/v1/me")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_malformed_and_unknown_keys_are_401(api_client, domain):
    for header in ("Api-Key nonsense", "Api-Key hk_abc_def", "Api-Key hk_a_b_c"):
        api_client.credentials(HTTP_AUTHORIZATION=header)
        response = api_client.get("/api/v1/domains/")
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "authentication_failed"


def test_only_owners_manage_keys(member_client, key_client, domain):
    editor = member_client("editor")
    assert editor.get(keys(domain.slug)).status_code == 403
    assert editor.post(keys(domain.slug), {"name": "sneaky"}, format="json").status_code == 403
    assert key_client(domain, role="editor").post(keys(domain.slug), {"name": "by key"}, format="json").status_code == 403
    assert not ApiKey.objects.filter(name__in=["sneaky", "by key"]).exists()


def test_another_domains_keys_are_404_and_never_listed(owner_client, domain, other_domain):
    foreign = ApiKeyFactory(domain=other_domain)
    mine = ApiKeyFactory(domain=domain)

    assert owner_client.get(keys(other_domain.slug)).status_code == 404
    assert owner_client.post(keys(other_domain.slug), {"name": "x"}, format="json").status_code == 404
    assert owner_client.get(f"{keys(domain.slug)}{foreign.pk}/").status_code == 404
    assert owner_client.delete(f"{keys(domain.slug)}{foreign.pk}/").status_code == 404
    assert [k["id"] for k in owner_client.get(keys(domain.slug)).json()["results"]] == [mine.pk]
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_a_key_of_domain_a_cannot_reach_domain_b(key_client, domain, other_domain):
    client = key_client(domain, role="editor")
    assert client.get(f"/api/v1/domains/{other_domain.slug}/").status_code == 404
    assert client.patch(f"/api/v1/domains/{other_domain.slug}/", {"name": "x"}, format="json").status_code == 404
    assert client.get(keys(other_domain.slug)).status_code == 404
