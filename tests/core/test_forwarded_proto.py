"""X-Forwarded-Proto is believed only from a trusted proxy."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from apps.core.middleware import ForwardedProtoMiddleware


def _scheme_seen(remote_addr: str) -> str:
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_PROTO="https")
    seen = {}

    def view(req):
        seen["scheme"] = req.scheme
        return HttpResponse()

    ForwardedProtoMiddleware(view)(request)
    return seen["scheme"]


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_a_trusted_proxy_vouches_for_https():
    assert _scheme_seen("10.1.2.3") == "https"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_a_client_outside_the_proxies_cannot_claim_https():
    assert _scheme_seen("203.0.113.9") == "http"


@override_settings(TRUSTED_PROXIES=[])
def test_with_no_trusted_proxy_the_header_is_ignored():
    assert _scheme_seen("127.0.0.1") == "http"


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=[], SECURE_SSL_REDIRECT=True)
def test_a_forged_header_still_gets_the_https_redirect(client):
    response = client.get("/health", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
