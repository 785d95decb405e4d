import pytest
from django.test import Client

from apps.search.models import ExtractionCache
from tests.factories import DomainFactory, MembershipFactory, UserFactory
from tests.search.factories import make_document, make_entity, mention, relate

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(user, domain):
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def graph(domain):
    doc = make_document(domain, "Lift report", ["The Delta wing generates vortex lift."])
    delta, vortex = make_entity(domain, "Delta wing"), make_entity(domain, "vortex lift")
    mention(delta, doc)
    mention(vortex, doc)
    relation = relate(delta, vortex, doc)
    other = DomainFactory()
    secret = make_entity(other, "Secret engine")
    return {"delta": delta, "relation": relation, "secret": secret}


def test_entity_admin_lists_own_domain_and_shows_cited_mentions(staff_client, graph):
    listing = staff_client.get("/admin/search/entity/")
    assert listing.status_code == 200
    assert b"Delta wing" in listing.content and b"Secret engine" not in listing.content
    page = staff_client.get(f"/admin/search/entity/{graph['delta'].pk}/change/")
    assert page.status_code == 200
    assert b"Lift report" in page.content and b"chunk #0" in page.content and b"<mark>Delta wing</mark>" in page.content
    assert staff_client.get(f"/admin/search/entity/{graph['secret'].pk}/change/").status_code in (302, 404)


def test_relation_admin_shows_evidence(staff_client, graph):
    page = staff_client.get(f"/admin/search/relation/{graph['relation'].pk}/change/")
    assert page.status_code == 200 and b"Lift report" in page.content


def test_provenance_is_read_only(staff_client, graph):
    assert staff_client.get("/admin/search/mention/").status_code == 200
    assert staff_client.get("/admin/search/mention/add/").status_code == 403
    assert staff_client.get("/admin/search/relationevidence/").status_code == 200


def test_extraction_cache_is_superuser_only(staff_client, db):
    ExtractionCache.objects.create(chunk_hash="a" * 64, prompt_version="v1", model="m", result={})
    assert staff_client.get("/admin/search/extractioncache/").status_code == 403
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/search/extractioncache/").status_code == 200


def test_viewer_cannot_edit_entities(client_for, graph, domain):
    viewer = UserFactory(is_staff=True)
    MembershipFactory(domain=domain, user=viewer, role="viewer")
    client = Client()
    client.force_login(viewer)
    response = client.post(f"/admin/search/entity/{graph['delta'].pk}/change/", {"name": "Renamed", "type": "concept"})
    assert response.status_code == 403
