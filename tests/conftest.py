"""Shared fixtures. The suite runs twice (see Makefile): on the embedded default (SQLite, the
SQLite file broker) and on PostgreSQL and Redis (DATABASE_URL, REDIS_URL)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
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


def pytest_addoption(parser):
    parser.addoption(
        "--live", action="store_true",
        help="Run the live suite (tests marked live) against the servers the environment configures; "
        "a server not configured fails its tests. Without --live they are deselected, not skipped.",
    )


def pytest_collection_modifyitems(config, items):
    """Without --live the live suite is left out of the run (reported as deselected): its servers
    (compose's Neo4j, Weaviate, MinIO, Vault) do not run here, and a skip is not a pass."""
    if config.getoption("--live"):
        return
    live = [item for item in items if item.get_closest_marker("live")]
    if live:
        config.hook.pytest_deselected(items=live)
        items[:] = [item for item in items if not item.get_closest_marker("live")]


def pytest_sessionstart(session):
    """With HEYSH_REQUIRE_SERVICES=1 (CI), a configured but unreachable PostgreSQL or Redis fails
    the run at once. The embedded pass sets neither URL: it needs no server.

    The live suite (HEYSH_LIVE_ISOLATED=1, compose's live-tests service) reads its servers'
    secrets from the environment: those the settings read from Vault are put there too."""
    if os.environ.get("HEYSH_LIVE_ISOLATED") == "1" and os.environ.get("VAULT_ADDR", "").strip():
        from heysh.vault import read_vault_secrets  # only for the live suite: it talks to Vault

        os.environ.update({k: v for k, v in read_vault_secrets(os.environ).items() if k not in os.environ})
    if os.environ.get("HEYSH_REQUIRE_SERVICES") != "1":
        return
    missing = []
    database_url = os.environ.get("DATABASE_URL", "").strip()
    if database_url and not database_url.startswith("sqlite") and not _reachable(database_url, 5432):
        missing.append(f"PostgreSQL (DATABASE_URL={database_url!r})")
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if redis_url and not _reachable(redis_url, 6379):
        missing.append(f"Redis (REDIS_URL={redis_url!r})")
    if missing:
        pytest.exit("HEYSH_REQUIRE_SERVICES=1 but not reachable: " + "; ".join(missing), returncode=3)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request, django_db_modify_db_settings_parallel_suffix):
    """On SQLite the test database is a file in the run's var dir, not pytest-django's in-memory
    default: the Celery worker and gunicorn processes some tests start must open it too."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("sqlite3"):
        return
    xdist_worker = getattr(request.config, "workerinput", {}).get("workerid")
    name = f"test-heysh-{xdist_worker}.sqlite3" if xdist_worker else "test-heysh.sqlite3"
    database.setdefault("TEST", {})["NAME"] = str(Path(settings.VAR_DIR) / name)


@pytest.fixture(autouse=True)
def _rules_extractor(request, settings):
    """The pipeline, search and graph tests' texts were written for the rule extractor, which is
    deterministic and instant; the spaCy default has its own tests (tests/search/extractors/),
    which opt out with ``@pytest.mark.default_extractor``."""
    if request.node.get_closest_marker("default_extractor") is None:
        settings.EXTRACTORS = {**settings.EXTRACTORS, "default": settings.EXTRACTORS["rules"]}
    yield


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and caches must not leak between tests."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def search_index_dir():
    """The search engines' files outlive a test's database rollback, and the next test reuses
    domain ids: every test starts with no index files and no open readers."""
    import shutil

    from django.conf import settings

    from apps.search.engines import keyword, vectors

    def wipe():
        keyword._readers.clear()
        vectors._readers.clear()
        shutil.rmtree(settings.SEARCH_INDEX_DIR, ignore_errors=True)

    wipe()
    yield Path(settings.SEARCH_INDEX_DIR)
    wipe()


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
