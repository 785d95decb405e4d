"""CORS headers for the configured frontend origins only (HEYSH_CORS_ALLOWED_ORIGINS)."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

FRONTEND = "https://app.heysh.example"


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_preflight_from_the_frontend_is_allowed(client):
    response = client.options(
        "/api/v1/domains/", HTTP_ORIGIN=FRONTEND, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert "authorization" in response["Access-Control-Allow-Headers"]


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_other_origins_get_no_cors_header(client):
    response = client.get("/api/v1/me", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response
    allowed = client.get("/api/v1/me", HTTP_ORIGIN=FRONTEND)
    assert allowed["Access-Control-Allow-Origin"] == FRONTEND
