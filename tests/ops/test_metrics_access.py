"""/metrics names every tenant: only a caller with HEYSH_METRICS_TOKEN reads it, and the
stack's Prometheus jobs (compose and Kubernetes) send that token."""

from __future__ import annotations

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
def test_without_the_right_bearer_token_metrics_are_a_401_in_the_error_shape(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"heysh_documents" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_right_bearer_token_reads_the_metrics(client):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert b"heysh_documents" in response.content


@override_settings(METRICS_TOKEN=None, PRODUCTION=True)
def test_production_without_a_token_serves_no_metrics(client):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "metrics_token_unset"


@override_settings(METRICS_TOKEN=None, PRODUCTION=False)
def test_development_without_a_token_keeps_metrics_open(client):
    assert client.get("/metrics").status_code == 200
