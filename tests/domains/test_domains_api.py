"""Domains CRUD: roles decide writes, membership decides visibility (404 outside it)."""

import pytest

from apps.domains.models import Domain, Membership

pytestmark = pytest.mark.django_db

LIST = "/api/v1/domains/"


def detail(slug):
    return f"/api/v1/domains/{slug}/"


def test_list_shows_only_readable_domains_with_the_callers_role(owner_client, domain, other_domain, user):
    viewer_of = Domain.objects.create(slug="viewed", name="Viewed")
    Membership.objects.create(domain=viewer_of, user=user, role="viewer")

    response = owner_client.get(LIST)

    assert response.status_code == 200
    roles = {d["slug"]: d["role"] for d in response.json()["results"]}
    assert roles == {domain.slug: "owner", "viewed": "viewer"}
    assert other_domain.slug not in roles


def test_create_makes_the_caller_owner(client_for, user):
    response = client_for(user).post(LIST, {"slug": "new-one", "name": "New one", "description": "d"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["role"] == "owner"
    created = Domain.objects.get(slug="new-one")
    assert created.created_by == user
    assert Membership.objects.get(domain=created, user=user).role == "owner"


def test_create_rejects_bad_input_and_duplicate_slug_with_the_error_body(owner_client, other_domain):
    bad = owner_client.post(LIST, {"slug": "has spaces"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    assert set(bad.json()["error"]["detail"]) >= {"slug", "name"}

    duplicate = owner_client.post(LIST, {"slug": other_domain.slug, "name": "Mine"}, format="json")
    assert duplicate.status_code == 409, "a valid body that the current state refuses"
    assert duplicate.json()["error"]["code"] == "conflict"
    assert "slug" in duplicate.json()["error"]["detail"]
    assert Domain.objects.get(slug=other_domain.slug).name == "B domain"


def test_detail_of_another_domain_is_404_not_403(owner_client, other_domain):
    for method in ("get", "patch", "delete"):
        response = getattr(owner_client, method)(detail(other_domain.slug), {"name": "x"}, format="json")
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    assert Domain.objects.get(pk=other_domain.pk).name == "B domain"


def test_owner_and_editor_update_viewer_gets_403(owner_client, member_client, domain):
    assert owner_client.patch(detail(domain.slug), {"name": "By owner"}, format="json").status_code == 200
    editor = member_client("editor").patch(detail(domain.slug), {"description": "by editor"}, format="json")
    assert editor.status_code == 200
    assert editor.json()["description"] == "by editor"

    viewer = member_client("viewer").patch(detail(domain.slug), {"name": "By viewer"}, format="json")
    assert viewer.status_code == 403
    assert viewer.json()["error"]["code"] == "permission_denied"
    domain.refresh_from_db()
    assert (domain.name, domain.description) == ("By owner", "by editor")


def test_slug_and_status_cannot_be_changed_and_webhook_secret_is_never_returned(owner_client, domain):
    response = owner_client.patch(
        detail(domain.slug), {"slug": "renamed", "status": "archived", "webhook_secret": "s3cret"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["slug"] == domain.slug
    assert "webhook_secret" not in response.json()
    domain.refresh_from_db()
    assert (domain.slug, domain.status, domain.webhook_secret) == (domain.slug, "active", "s3cret")


def test_only_an_owner_deletes(owner_client, member_client, domain):
    assert member_client("editor").delete(detail(domain.slug)).status_code == 403
    assert Domain.objects.filter(pk=domain.pk).exists()
    assert owner_client.delete(detail(domain.slug)).status_code == 204
    assert not Domain.objects.filter(pk=domain.pk).exists()


def test_unsupported_method_is_405_with_the_error_body(owner_client, domain):
    response = owner_client.put(detail(domain.slug), {"name": "x"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_api_key_sees_only_its_domain_and_cannot_create_domains(key_client, domain, other_domain):
    client = key_client(domain, role="viewer")

    listed = client.get(LIST)
    assert [d["slug"] for d in listed.json()["results"]] == [domain.slug]
    assert listed.json()["results"][0]["role"] == "viewer"
    assert client.get(detail(other_domain.slug)).status_code == 404

    created = client.post(LIST, {"slug": "by-key", "name": "By key"}, format="json")
    assert created.status_code == 403
    assert not Domain.objects.filter(slug="by-key").exists()


def test_api_key_role_decides_domain_writes(key_client, domain):
    assert key_client(domain, role="viewer").patch(detail(domain.slug), {"name": "v"}, format="json").status_code == 403
    assert key_client(domain, role="editor").patch(detail(domain.slug), {"name": "e"}, format="json").status_code == 200
    # Deleting is for owners, and an API key never owns.
    assert key_client(domain, role="editor").delete(detail(domain.slug)).status_code == 403
    domain.refresh_from_db()
    assert domain.name == "e"


@pytest.mark.parametrize("url, reason", [
    ("http://10.1.2.3/hook", "private or reserved address (10.1.2.3)"),
    ("http://169.254.169.254/latest/meta-data/", "private or reserved address (169.254.169.254)"),
    ("http://[::1]:8080/hook", "private or reserved address (::1)"),
    ("http://localhost:9000/hook", "localhost"),
    ("ftp://hooks.example.com/hook", "Only http:// and https:// URLs can receive webhooks."),
    ("https://user:pw@hooks.example.com/hook", "credentials"),
])
def test_a_webhook_url_aimed_at_this_machine_or_network_is_refused_on_save(owner_client, domain, url, reason):
    response = owner_client.patch(detail(domain.slug), {"webhook_url": url}, format="json")

    assert response.status_code == 400, response.json()
    assert reason in str(response.json()), response.json()
    domain.refresh_from_db()
    assert domain.webhook_url == "", "nothing else was written"


def test_a_public_webhook_url_is_accepted_and_private_ones_when_allowed(owner_client, domain, settings):
    assert owner_client.patch(detail(domain.slug), {"webhook_url": "https://hooks.example.com/heysh"}, format="json").status_code == 200
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert owner_client.patch(detail(domain.slug), {"webhook_url": "http://10.1.2.3/hook"}, format="json").status_code == 200
    domain.refresh_from_db()
    assert domain.webhook_url == "http://10.1.2.3/hook"
