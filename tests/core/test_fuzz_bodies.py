"""Property-based fuzzing (hypothesis) of every write endpoint of the API with JSON and
multipart bodies: whatever arrives, the answer is never a 5xx. The endpoints are read from
the URL configuration, so a new one is fuzzed without being listed here. Derandomized
(a fixed seed per test) so that CI runs the same cases every time; DELETE takes no body
and is left out."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.workflows import engine
from apps.documents.models import Document, DocumentStatus, DocumentVersion
from apps.domains.models import ApiKey, Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch")
# Field names the endpoints read, so that generated bodies reach their validators.
FIELDS = [
    "domain", "domains", "slug", "name", "description", "role", "username", "password", "refresh", "text", "title",
    "url", "file", "query", "q", "limit", "offset", "hops", "wait", "comment", "body", "status", "topic_keywords",
    "seed_title", "seed_text", "source", "version", "kind", "content",
]  # fmt: skip
FUZZ = settings(
    max_examples=12, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip


def _write_routes(patterns=None, prefix: str = "") -> list[tuple[str, str]]:
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            routes += _write_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
            route = prefix + str(pattern.pattern)
            if view and route.startswith("api/"):
                routes += [(route, method) for method in WRITE_METHODS if hasattr(view, method)]
    return routes


ROUTES = _write_routes()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
json_bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=300),
)
field_values = (
    st.text(max_size=60) | st.integers().map(str) | st.sampled_from(["", "0", "-1", "true", "null", "x" * 5000])
)
uploads = st.builds(
    lambda name, data, content_type: SimpleUploadedFile(name, data, content_type=content_type),
    st.text(min_size=1, max_size=200).filter(lambda n: n.strip("/\\. ")),
    st.binary(max_size=2000) | st.sampled_from([b"%PDF-1.7\n", b"PK\x03\x04" + b"\0" * 40, b"Plain words."]),
    st.sampled_from(["text/plain", "application/pdf", "application/octet-stream", "image/png", ""]),
)
multipart_bodies = st.dictionaries(st.sampled_from(FIELDS), field_values | uploads, max_size=5)


@pytest.fixture
def world(user, domain, monkeypatch):
    """One object of every kind a write route names, owned through `user`."""
    # A created run's first message would go to the broker on commit; no worker runs here.
    monkeypatch.setattr(engine, "send", lambda *args, **kwargs: None)
    member = Membership.objects.create(domain=domain, user=UserFactory(), role=Membership.Role.VIEWER)
    api_key = ApiKey.objects.create(
        domain=domain, name="fuzz", role=ApiKey.Role.VIEWER, prefix="fuzzfuzz", key_hash="0" * 64
    )
    document = Document.objects.create(
        domain=domain, title="Fuzzed", source="text", created_by=user, status=DocumentStatus.READY
    )
    version = DocumentVersion.objects.create(
        document=document, domain=domain, number=1, text="Fuzzed text.", status=DocumentStatus.READY
    )
    Document.objects.filter(pk=document.pk).update(current_version=version)
    return {"slug": domain.slug, "pk": document.pk, "membership_id": member.pk, "api_key_id": api_key.pk,
            "step": "research", "content_id": 1}  # fmt: skip


def _url(route: str, world: dict) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(world[m.group(1)]), route)


def _assert_no_server_error(response, route: str, method: str, body) -> None:
    assert response.status_code < 500, (
        f"{method.upper()} {route} answered {response.status_code} to {body!r:.300}: {response.content[:300]!r}"
    )
    if response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
        assert "error" in response.json(), response.content[:300]


def test_every_write_route_is_found():
    assert len(ROUTES) >= 15
    assert ("api/v1/documents", "post") in ROUTES and ("api/v1/auth/token/", "post") in ROUTES


@pytest.mark.parametrize(("route", "method"), ROUTES, ids=[f"{m}-{r}" for r, m in ROUTES])
def test_json_bodies_never_make_a_5xx(owner_client, world, route, method):
    @FUZZ
    @given(body=json_bodies)
    def check(body):
        response = getattr(owner_client, method)(_url(route, world), data=body, content_type="application/json")
        _assert_no_server_error(response, route, method, body)

    check()


@pytest.mark.parametrize(("route", "method"), ROUTES, ids=[f"{m}-{r}" for r, m in ROUTES])
def test_multipart_bodies_never_make_a_5xx(owner_client, world, route, method):
    @FUZZ
    @given(body=multipart_bodies)
    def check(body):
        for value in body.values():
            if hasattr(value, "seek"):
                value.seek(0)
        response = getattr(owner_client, method)(_url(route, world), data=body, format="multipart")
        _assert_no_server_error(response, route, method, body)

    check()
