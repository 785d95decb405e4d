"""JWT for people, API keys for services, sessions for the browsable API; 401 otherwise."""

import pytest

from tests.factories import DomainFactory, MembershipFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's password


def test_unauthenticated_is_401_with_the_error_body(api_client):
    response = api_client.get("/api/v1/domains/", HTTP_X_REQUEST_ID="req-123")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided.", "request_id": "req-123"}
    }


def test_jwt_obtain_use_and_refresh(api_client, user, domain):
    viewer_of = DomainFactory(slug="read-only")
    MembershipFactory(domain=viewer_of, user=user, role="viewer")

    tokens = api_client.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert tokens.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    me = api_client.get("/api/v1/me")
    assert me.status_code == 200
    body = me.json()
    assert (body["id"], body["username"], body["api_key"]) == (user.pk, user.username, None)
    assert sorted((d["slug"], d["role"]) for d in body["domains"]) == sorted([(domain.slug, "owner"), ("read-only", "viewer")])

    api_client.credentials()
    refreshed = api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens.json()["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert refreshed.json()["access"] != ""


def test_wrong_password_and_bad_tokens_are_401(api_client, user):
    wrong = api_client.post("/api/v1/auth/token/", {"username": user.username, "password": "nope"}, format="json")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "no_active_account"

    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    bad = api_client.get("/api/v1/me")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "token_not_valid"
    assert "token" in bad.json()["error"]["message"].lower()


def test_session_login_works_for_the_browsable_api(client, user, domain):
    client.force_login(user)
    response = client.get("/api/v1/me", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["domains"][0]["slug"] == domain.slug


def test_me_for_an_api_key_names_the_key_and_its_one_domain(key_client, domain, other_domain):
    client = key_client(domain, role="editor")
    body = client.get("/api/v1/me").json()
    assert body["id"] is None and body["username"] is None
    assert body["api_key"]["prefix"] == client.api_key.prefix
    assert body["domains"] == [{"slug": domain.slug, "name": domain.name, "role": "editor"}]
