"""Revoking an API key while its domain is being deleted: a 404, never a 500 ("Save with
update_fields did not affect any rows")."""

from __future__ import annotations

import pytest

from apps.domains import selectors, services
from apps.domains.models import ApiKey, Domain
from tests.domains.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def _delete_domain_after(function, domain_id: int):
    """Runs ``function`` then deletes the domain: the other request's delete, interleaved
    exactly between this request's load of the key and its revoke."""

    def interleaved(*args, **kwargs):
        result = function(*args, **kwargs)
        Domain.objects.filter(pk=domain_id).delete()
        return result

    return interleaved


@pytest.mark.parametrize(
    ("module", "name"),
    [(selectors, "api_key_get"), (services, "_require_owner")],
    ids=["after-load", "after-owner-check"],
)
def test_revoking_a_key_whose_domain_was_just_deleted_is_a_404(owner_client, domain, monkeypatch, module, name):
    api_key = ApiKeyFactory(domain=domain)
    monkeypatch.setattr(module, name, _delete_domain_after(getattr(module, name), domain.pk))
    response = owner_client.delete(f"/api/v1/domains/{domain.slug}/api-keys/{api_key.pk}/")
    assert response.status_code == 404, response.content[:300]
    assert response.json()["error"]["code"] == "not_found"
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()


def test_revoking_a_key_another_request_revoked_keeps_the_first_revocation(user, domain):
    api_key = ApiKeyFactory(domain=domain)
    stale = ApiKey.objects.get(pk=api_key.pk)
    first = services.api_key_revoke(actor=user, api_key=api_key).revoked_at
    assert services.api_key_revoke(actor=user, api_key=stale).revoked_at == first
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at == first
