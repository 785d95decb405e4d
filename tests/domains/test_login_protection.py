"""Brute-force protection (django-axes) on the admin login and the token endpoint, one client
address for lockout and throttles (X-Forwarded-For only from trusted proxies), refresh-token
rotation and revocation of every token on a password change or deactivation."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from apps.core.client_address import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's password
TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"


def _token(client, username, password, **extra):
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json", **extra)


def _assert_locked_out(response):
    assert response.status_code == 429, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "locked_out"
    assert "Too many failed login attempts" in error["message"]
    assert int(response["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())


def test_the_token_endpoint_locks_out_after_the_failure_limit_even_with_the_right_password(api_client, user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _token(api_client, user.username, "wrong").json()["error"]["code"] == "no_active_account"
    _assert_locked_out(_token(api_client, user.username, "wrong"))
    _assert_locked_out(_token(api_client, user.username, PASSWORD))
    # Another address is not locked out for this user: the lockout is per (username, address).
    assert _token(api_client, user.username, PASSWORD, REMOTE_ADDR="10.9.8.7").status_code == 200


def test_the_admin_login_locks_out_after_the_failure_limit(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page = client.post("/admin/login/?next=/admin/", {"username": staff.username, "password": "wrong"})
    assert page.status_code == 429
    right = client.post("/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD})
    assert right.status_code == 429
    assert "Too many failed login attempts" in right.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_successful_login_resets_the_failure_count(api_client, user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _token(api_client, user.username, "wrong")
    assert _token(api_client, user.username, PASSWORD).status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _token(api_client, user.username, "wrong").status_code == 401


def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(api_client, user):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _token(api_client, user.username, "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
    _assert_locked_out(_token(api_client, user.username, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.77"))


def test_a_forged_x_forwarded_for_does_not_open_a_new_throttle_bucket(api_client):
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "2/min", "principal": "1000/min"}}
    with override_settings(REST_FRAMEWORK=rates, AXES_ENABLED=False):
        codes = [
            api_client.post(TOKEN_URL, {"username": "x", "password": "y"}, format="json",
                            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
            for n in range(3)
        ]
    assert codes == [401, 401, 429]


class _Request:
    def __init__(self, remote, forwarded=None):
        self.META = {"REMOTE_ADDR": remote}
        if forwarded is not None:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "client"),
    [
        ([], "127.0.0.1", "203.0.113.5", "127.0.0.1"),  # no trusted proxy: the header is ignored
        (["10.0.0.0/8"], "192.0.2.1", "203.0.113.5", "192.0.2.1"),  # the peer is not a trusted proxy
        (["10.0.0.0/8"], "10.0.0.2", "203.0.113.5", "203.0.113.5"),  # the proxy vouches for its client
        (["10.0.0.0/8"], "10.0.0.2", "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the client's own left part is not believed
        (["10.0.0.0/8"], "10.0.0.2", "203.0.113.5, 10.0.0.9", "203.0.113.5"),  # a chain of trusted proxies
        (["10.0.0.0/8"], "10.0.0.2", "nonsense", "10.0.0.2"),  # garbage: the proxy itself
        (["10.0.0.0/8"], "10.0.0.2", None, "10.0.0.2"),
        (["2001:db8::/32"], "2001:db8::1", "2001:db8:1::5, 2a00::1", "2a00::1"),
    ],
)
def test_client_ip_believes_x_forwarded_for_only_from_trusted_proxies(trusted, remote, forwarded, client):
    with override_settings(TRUSTED_PROXIES=trusted):
        assert client_ip(_Request(remote, forwarded)) == client


def test_the_throttle_and_the_lockout_see_the_proxied_client_behind_a_trusted_proxy(api_client, user):
    """Behind a trusted proxy, two real clients are two addresses for both mechanisms."""
    with override_settings(TRUSTED_PROXIES=["127.0.0.1/32"]):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            _token(api_client, user.username, "wrong", HTTP_X_FORWARDED_FOR="203.0.113.1")
        _assert_locked_out(_token(api_client, user.username, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.1"))
        assert _token(api_client, user.username, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 200


def _pair(client, user):
    response = _token(client, user.username, PASSWORD)
    assert response.status_code == 200
    return response.json()


def _me(client, access):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    try:
        return client.get("/api/v1/me")
    finally:
        client.credentials()


def test_a_refresh_token_is_rotated_and_good_only_once(api_client, user):
    tokens = _pair(api_client, user)
    first = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200
    assert first.json()["refresh"] != tokens["refresh"]
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    again = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "token_not_valid"
    assert api_client.post(REFRESH_URL, {"refresh": first.json()["refresh"]}, format="json").status_code == 200


def test_a_password_change_revokes_access_and_refresh_tokens(api_client, user):
    tokens = _pair(api_client, user)
    assert _me(api_client, tokens["access"]).status_code == 200
    user.set_password("a new and different passphrase")
    user.save()
    refused = _me(api_client, tokens["access"])
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "password_changed"
    refresh = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "password_changed"
    fresh = _token(api_client, user.username, "a new and different passphrase")
    assert _me(api_client, fresh.json()["access"]).status_code == 200


def test_deactivation_revokes_access_and_refresh_tokens(api_client, user):
    tokens = _pair(api_client, user)
    user.is_active = False
    user.save()
    assert _me(api_client, tokens["access"]).json()["error"]["code"] == "user_inactive"
    refresh = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "no_active_account"


def test_a_refresh_token_of_a_deleted_user_is_a_401_not_a_500(api_client, user):
    tokens = _pair(api_client, user)
    user.delete()
    refresh = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "no_active_account"
