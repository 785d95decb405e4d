"""Shared fixtures. The suite runs against real PostgreSQL and Redis (see Makefile)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest
from rest_framework.test import APIClient

from tests.factories import DomainFactory, MembershipFactory, UserFactory


def _reachable(url: str | None, default_port: int) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    """With HEYSH_REQUIRE_SERVICES=1 (CI), a missing PostgreSQL or Redis fails the run at once."""
    if os.environ.get("HEYSH_REQUIRE_SERVICES") != "1":
        return
    missing = []
    if not _reachable(os.environ.get("DATABASE_URL"), 5432):
        missing.append(f"PostgreSQL (DATABASE_URL={os.environ.get('DATABASE_URL')!r})")
    if not _reachable(os.environ.get("REDIS_URL"), 6379):
        missing.append(f"Redis (REDIS_URL={os.environ.get('REDIS_URL')!r})")
    if missing:
        pytest.exit("HEYSH_REQUIRE_SERVICES=1 but not reachable: " + "; ".join(missing), returncode=3)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and caches must not leak between tests."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def domain(db, user):
    domain = DomainFactory()
    MembershipFactory(domain=domain, user=user, role="owner")
    return domain


@pytest.fixture
def client_for(db):
    """An API client authenticated as the given user (force_authenticate: auth is tested on its own)."""

    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture
def owner_client(client_for, user, domain) -> APIClient:
    return client_for(user)
