"""Domain admin: API keys shown once, staff scoped to their domains, creators become owners."""

import hashlib
import re

import pytest
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from apps.domains.models import ApiKey, Domain, Membership
from tests.factories import DomainFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_creating_a_key_in_the_admin_shows_it_once_and_stores_its_hash(client, superuser, domain):
    client.force_login(superuser)

    response = client.post(
        "/admin/domains/apikey/add/", {"domain": domain.pk, "name": "from admin", "role": "editor", "_save": "1"}
    )

    assert response.status_code == 302
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    raw = re.search(r"hk_[0-9a-f]+_\S+", shown).group(0)
    assert raw in client.get(response.url).content.decode()  # displayed once, then consumed
    api_key = ApiKey.objects.get(name="from admin")
    assert api_key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert api_key.created_by == superuser
    change_page = client.get(f"/admin/domains/apikey/{api_key.pk}/change/").content.decode()
    assert raw not in change_page and api_key.key_hash not in change_page

    service = APIClient()
    service.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert service.get(f"/api/v1/domains/{domain.slug}/").status_code == 200


def test_staff_see_only_their_domains(client):
    staff = UserFactory(is_staff=True)
    mine, theirs = DomainFactory(name="Mine domain"), DomainFactory(name="Their domain")
    MembershipFactory(domain=mine, user=staff, role="editor")
    client.force_login(staff)

    changelist = client.get("/admin/domains/domain/").content.decode()
    assert "Mine domain" in changelist and "Their domain" not in changelist
    assert client.get(f"/admin/domains/domain/{mine.pk}/change/").status_code == 200
    foreign = client.get(f"/admin/domains/domain/{theirs.pk}/change/")
    assert foreign.status_code == 302  # the admin's "does not exist" redirect, like any unknown id
    for changelist in ("/admin/domains/membership/", "/admin/domains/apikey/"):
        # not even as a list filter choice
        assert "Their domain" not in client.get(changelist).content.decode(), changelist


def _add_domain(client, **fields):
    """POST the admin's add-domain form (no membership rows) with ``fields`` over blank defaults."""
    return client.post("/admin/domains/domain/add/", {
        "description": "", "status": "active", "webhook_url": "", "webhook_secret": "", **fields,
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000", "_save": "1",
    })


def test_a_domain_created_in_the_admin_is_owned_by_its_creator(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    response = _add_domain(client, name="Admin made", slug="admin-made")

    assert response.status_code == 302, response.content.decode()[:2000]
    domain = Domain.objects.get(slug="admin-made")
    assert Membership.objects.get(domain=domain, user=staff).role == "owner"
    assert domain.created_by == staff


def test_editors_cannot_issue_keys_in_the_admin(client, domain):
    editor = UserFactory(is_staff=True)
    MembershipFactory(domain=domain, user=editor, role="editor")
    client.force_login(editor)

    response = client.post("/admin/domains/apikey/add/", {"domain": domain.pk, "name": "nope", "role": "editor"})

    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="nope").exists()


def test_the_admin_refuses_a_webhook_aimed_at_the_internal_network(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    response = _add_domain(client, name="Hooked", slug="hooked", webhook_url="http://169.254.169.254/latest/meta-data/")

    assert response.status_code == 200, "the form is shown again"
    assert "private or reserved address (169.254.169.254)" in response.content.decode()
    assert not Domain.objects.filter(slug="hooked").exists()
