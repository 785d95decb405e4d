import pytest
from rest_framework.test import APIClient

from apps.domains import services
from tests.factories import DomainFactory, MembershipFactory, UserFactory


@pytest.fixture
def other_owner(db):
    return UserFactory(username="other-owner")


@pytest.fixture
def other_domain(db, other_owner):
    """Domain B: the `user` fixture (owner of `domain`, A) has no role in it."""
    domain = DomainFactory(slug="b-domain", name="B domain")
    MembershipFactory(domain=domain, user=other_owner, role="owner")
    return domain


@pytest.fixture
def member_client(client_for, domain):
    """A client for a new user holding ``role`` in domain A."""

    def make(role: str):
        member = UserFactory()
        MembershipFactory(domain=domain, user=member, role=role)
        return client_for(member)

    return make


@pytest.fixture
def key_client(db):
    """An API client authenticated with a fresh API key of ``domain`` and ``role``."""

    def make(domain, role="viewer"):
        owner = domain.memberships.filter(role="owner").first().user
        api_key, raw = services.api_key_create(actor=owner, domain=domain, name=f"{role} key", role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        client.api_key, client.raw_key = api_key, raw
        return client

    return make
