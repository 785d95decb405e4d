"""The OpenAPI schema tells the truth: typed bodies, paginated envelopes, the one error shape,
the constraints the views enforce, and a description and an example on every operation."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _parameter(operation, name):
    return next(p for p in operation.get("parameters", []) if p["name"] == name)


def test_every_operation_has_a_description_and_an_example(schema):
    """An example of a success body; a DELETE answers 204 without one, so it needs only the description."""
    missing = []
    for path, method, operation in _operations(schema):
        success = [r for code, r in operation["responses"].items() if code < "400"]
        bodies = [*operation.get("requestBody", {}).get("content", {}).values()]
        bodies += [c for r in success for c in r.get("content", {}).values()]
        needs_example = bool(bodies)
        if not operation.get("description") or (
            needs_example and not any("examples" in b or "example" in b for b in bodies)
        ):
            missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_no_operation_answers_a_bare_object(schema):
    bare = []
    for path, method, operation in _operations(schema):
        for code, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                if content["schema"] == {"type": "object"} or content["schema"] == {
                    "type": "object",
                    "additionalProperties": {},
                }:
                    bare.append(f"{method.upper()} {path} {code} {media}")
    assert bare == []


def test_every_error_status_is_documented_in_the_one_error_shape(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        expected = {"400", "401", "429"} | ({"404"} if "{" in path else set())
        expected |= {"403", "413", "415"} if method != "get" else set()
        assert expected <= set(responses), f"{method} {path}: {sorted(responses)}"
        for code, response in responses.items():
            if code >= "400":
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/domains/",
        "/api/v1/documents",
        "/api/v1/entities",
        "/api/v1/bootstraps/",
        "/api/v1/documents/{id}/chunks",
        "/api/v1/domains/{slug}/members/",
    ],
)
def test_lists_are_paginated_envelopes_with_bounded_limits(schema, path):
    operation = schema["paths"][path]["get"]
    body = _resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert body["type"] == "object" and {"count", "next", "previous", "results"} <= set(body["required"])
    limit = _parameter(operation, "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 500)
    assert _parameter(operation, "offset")["schema"]["minimum"] == 0


def test_the_event_stream_is_text_event_stream(schema):
    content = schema["paths"]["/api/v1/runs/{id}/events"]["get"]["responses"]["200"]["content"]
    event = content["text/event-stream"]["schema"]
    assert event["properties"]["event"]["enum"] == ["progress", "done", "timeout"]
    assert "application/json" in content


def test_constraints_the_views_enforce_are_in_the_schema(schema):
    paths = schema["paths"]
    search = paths["/api/v1/search"]["get"]
    assert _parameter(search, "q")["required"] and _parameter(search, "q")["schema"]["minLength"] == 1
    hops = _parameter(search, "hops")["schema"]
    assert (hops["minimum"], hops["maximum"]) == (1, 3)
    assert _parameter(search, "group")["schema"]["enum"] == ["chunks", "documents"]
    body = _resolve(schema, paths["/api/v1/search"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    group = body["properties"]["group"]
    assert group["default"] == "chunks" and _resolve(schema, group["allOf"][0])["enum"] == ["chunks", "documents"]
    assert _parameter(paths["/api/v1/runs/{id}"]["get"], "wait")["schema"]["minimum"] == 0
    assert _parameter(paths["/api/v1/documents/{id}/chunks"]["get"], "version")["schema"]["minimum"] == 1
    assert _parameter(paths["/api/v1/documents"]["get"], "source")["schema"]["enum"]
    intake = paths["/api/v1/documents"]["post"]["requestBody"]["content"]
    json_body = _resolve(schema, intake["application/json"]["schema"])
    assert json_body["oneOf"] == [{"required": ["text"]}, {"required": ["url"]}]
    multipart = _resolve(schema, intake["multipart/form-data"]["schema"])
    assert set(multipart["required"]) == {"domain", "file"}
    assert multipart["properties"]["file"]["format"] == "binary"


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=null", "limit"),
        ("offset=null", "offset"),
        ("offset=-1", "offset"),
        ("source=carrier-pigeon", "source"),
    ],
)
def test_query_values_outside_the_schema_are_a_400_naming_the_field(owner_client, query, field):
    response = owner_client.get(f"/api/v1/documents?{query}")
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["error"]["detail"]


@pytest.mark.parametrize("body", [{}, {"text": "a", "url": "https://example.org/"}, {"text": "   "}])
def test_document_intake_wants_exactly_one_non_blank_source(owner_client, domain, body):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, **body}, format="json")
    assert response.status_code == 400, response.content[:300]


def test_chunk_version_must_be_a_positive_number(owner_client, domain, user):
    from apps.documents.models import Document  # local: the model is only needed here

    document = Document.objects.create(domain=domain, title="t", source="text", created_by=user)
    for value in ("0", "-1", "null"):
        response = owner_client.get(f"/api/v1/documents/{document.pk}/chunks?version={value}")
        assert response.status_code == 400, (value, response.content[:200])


def test_the_api_docs_page_uses_only_local_assets(owner_client):
    page = owner_client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("swagger-ui" in a for a in assets), assets
    assert [a for a in assets if re.match(r"^(https?:)?//", a)] == []
