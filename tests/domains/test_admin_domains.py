"""Domain admin: API keys shown once, staff scoped to their domains, creators become owners,
deletes through the service."""

import hashlib
import re

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from apps.core.exceptions import Conflict
from apps.core.models import ProjectionDelete
from apps.documents.models import Document
from apps.domains import services
from apps.domains.models import ApiKey, Domain, Membership
from tests.backends.world import make_version
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


def _domain_of(owner, name: str) -> Domain:
    domain = DomainFactory(name=name)
    MembershipFactory(domain=domain, user=owner, role="owner")
    make_version(domain=domain, title=f"{name} document")
    return domain


def _owed() -> set[tuple[int, int | None]]:
    return set(ProjectionDelete.objects.values_list("domain_id", "version_id"))


def test_an_admin_domain_delete_records_the_outbox_row_an_api_delete_records(client, client_for):
    owner = UserFactory(is_staff=True)
    by_api, by_admin = _domain_of(owner, "By the API"), _domain_of(owner, "In the admin")
    assert client_for(owner).delete(f"/api/v1/domains/{by_api.slug}/").status_code == 204
    assert _owed() == {(by_api.pk, None)}, "the whole domain's share"
    ProjectionDelete.objects.all().delete()
    client.force_login(owner)

    page = client.get(f"/admin/domains/domain/{by_admin.pk}/delete/").content.decode()
    assert "In the admin document" in page and "Cannot delete" not in page  # the cascade is listed
    response = client.post(f"/admin/domains/domain/{by_admin.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert _owed() == {(by_admin.pk, None)}
    assert not Domain.objects.filter(pk=by_admin.pk).exists()
    assert not Document.objects.filter(domain_id=by_admin.pk).exists()
    assert not Membership.objects.filter(domain_id=by_admin.pk).exists()
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(by_admin.pk), object_repr="In the admin").exists()


def test_delete_selected_deletes_each_domain_through_the_service(client):
    owner = UserFactory(is_staff=True)
    first, second, kept = (_domain_of(owner, name) for name in ("First", "Second", "Kept"))
    client.force_login(owner)
    selection = {"action": "delete_selected", "_selected_action": [first.pk, second.pk]}

    assert "Cannot delete" not in client.post("/admin/domains/domain/", selection).content.decode()
    assert Domain.objects.count() == 3, "the first POST only asks for confirmation"
    response = client.post("/admin/domains/domain/", {**selection, "post": "yes"})

    assert "Deleted 2 domains." in [str(m) for m in get_messages(response.wsgi_request)]
    assert _owed() == {(first.pk, None), (second.pk, None)}
    assert list(Domain.objects.values_list("pk", flat=True)) == [kept.pk]


def test_only_owners_delete_a_domain_in_the_admin(client):
    owner, editor = UserFactory(is_staff=True), UserFactory(is_staff=True)
    owned, edited = _domain_of(owner, "Owned"), _domain_of(owner, "Edited")
    MembershipFactory(domain=owned, user=editor, role="owner")
    MembershipFactory(domain=edited, user=editor, role="editor")
    client.force_login(editor)

    assert client.get(f"/admin/domains/domain/{edited.pk}/delete/").status_code == 403
    assert client.post(f"/admin/domains/domain/{edited.pk}/delete/", {"post": "yes"}).status_code == 403
    selection = {"action": "delete_selected", "_selected_action": [owned.pk, edited.pk]}
    assert "Cannot delete" in client.post("/admin/domains/domain/", selection).content.decode()
    assert client.post("/admin/domains/domain/", {**selection, "post": "yes"}).status_code == 403
    outsider = UserFactory(is_staff=True)
    _domain_of(outsider, "Outsider's own")
    client.force_login(outsider)
    assert client.post(f"/admin/domains/domain/{owned.pk}/delete/", {"post": "yes"}).status_code == 302  # not found
    assert Domain.objects.count() == 3 and not ProjectionDelete.objects.exists()


def test_a_domain_delete_refused_by_the_service_is_an_admin_message(client, monkeypatch):
    """No rule refuses an owner today; the refusal is simulated to pin how the admin shows one."""
    owner = UserFactory(is_staff=True)
    domain = _domain_of(owner, "Staying")

    def refuse(*, user, domain):
        raise Conflict("The domain is being exported; try again in a minute.")

    monkeypatch.setattr(services, "domain_delete", refuse)
    client.force_login(owner)
    response = client.post(f"/admin/domains/domain/{domain.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and response["Location"].endswith(f"/{domain.pk}/change/")
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["“Staying” was not deleted: The domain is being exported; try again in a minute."]
    assert Domain.objects.filter(pk=domain.pk).exists() and not LogEntry.objects.filter(action_flag=DELETION).exists()
