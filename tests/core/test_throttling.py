"""Throttling: 429 + Retry-After, separate buckets for anonymous callers, people and API keys.

Counters live in the real Redis cache (REDIS_URL). Rates are changed with
override_settings; apps.domains.throttling reads them per request (DRF would otherwise
keep the rates it read at import).
"""

import pytest
from django.conf import settings
from django.test import override_settings

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def rates(**scopes):
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "principal": "1000/min", **scopes}})


def assert_throttled(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"


def test_anonymous_callers_are_throttled_per_address(api_client):
    with rates(anon="2/min"):
        for _ in range(2):
            assert api_client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json").status_code == 401
        assert_throttled(api_client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json"))
        other_address = api_client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json", REMOTE_ADDR="10.1.2.3")
        assert other_address.status_code == 401


def test_each_user_has_its_own_bucket(client_for, user):
    first, second = client_for(user), client_for(UserFactory())
    with rates(principal="3/min"):
        for _ in range(3):
            assert first.get("/api/v1/me").status_code == 200
        assert_throttled(first.get("/api/v1/me"))
        assert second.get("/api/v1/me").status_code == 200


def test_an_api_key_is_its_own_principal(key_client, owner_client, domain):
    service = key_client(domain, role="viewer")
    with rates(principal="2/min"):
        assert service.get("/api/v1/me").status_code == 200
        assert service.get("/api/v1/me").status_code == 200
        assert_throttled(service.get("/api/v1/me"))
        # The key's owner is a different principal with a fresh bucket.
        assert owner_client.get("/api/v1/me").status_code == 200


def test_rates_follow_the_settings_of_the_moment(client_for, user):
    client = client_for(user)
    with rates(principal="1/min"):
        assert client.get("/api/v1/me").status_code == 200
        assert client.get("/api/v1/me").status_code == 429
    with rates(principal="50/min"):
        assert client.get("/api/v1/me").status_code == 200
