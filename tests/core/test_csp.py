"""Content-Security-Policy on the admin and the API (django-csp). The browser test
(tests/browser) proves the admin's own scripts run under it with no violation."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("path", ["/admin/login/", "/api/v1/domains/", "/health"])
def test_every_page_and_api_answer_carries_a_strict_policy(client, path):
    policy = _policy(client.get(path))
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"], "inline scripts need the nonce"
    assert policy["frame-ancestors"] == ["'self'"] and policy["base-uri"] == ["'self'"]


def test_the_graph_view_inline_script_carries_the_nonce_of_the_header(admin_client, domain):
    response = admin_client.get(f"/admin/bootstrap/domainbootstrap/graph/{domain.slug}/")
    assert response.status_code == 200
    (nonce,) = re.findall(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    inline = re.findall(rb"<script(?![^>]*\ssrc=)([^>]*)>", response.content)
    assert inline and all(f'nonce="{nonce}"'.encode() in attributes for attributes in inline)


def test_the_api_docs_page_needs_no_cdn_and_no_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    assert not any("cdn" in source for source in policy["script-src"])
    assert not re.search(rb"<script(?![^>]*\ssrc=)[^>]*>", response.content)
