"""Every failure answers the one JSON error body, with the request id."""

import pytest

pytestmark = pytest.mark.django_db


def assert_error_body(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response["X-Request-ID"]
    return error


def test_unknown_api_path_is_a_json_404(owner_client):
    assert_error_body(owner_client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_error_body(owner_client.get("/api/v2/domains/"), 404, "not_found")


def test_validation_error_is_400_with_per_field_detail(owner_client):
    error = assert_error_body(owner_client.post("/api/v1/domains/", {"slug": "ok-slug"}, format="json"), 400, "invalid")
    assert error["detail"] == {"name": ["This field is required."]}
    assert error["message"] == "Invalid input: name: This field is required."


def test_unauthenticated_forbidden_and_method_errors(api_client, member_client, domain):
    assert_error_body(api_client.get("/api/v1/me"), 401, "not_authenticated")
    assert_error_body(member_client("viewer").delete(f"/api/v1/domains/{domain.slug}/"), 403, "permission_denied")
    assert_error_body(member_client("viewer").put("/api/v1/me", {}, format="json"), 405, "method_not_allowed")


def test_incoming_request_id_is_echoed_and_nonsense_replaced(api_client):
    good = api_client.get("/api/v1/me", HTTP_X_REQUEST_ID="trace-42")
    assert good["X-Request-ID"] == "trace-42" and good.json()["error"]["request_id"] == "trace-42"
    bad = api_client.get("/api/v1/me", HTTP_X_REQUEST_ID="<script>")
    assert bad["X-Request-ID"] != "<script>" and len(bad["X-Request-ID"]) == 32


def test_disallowed_host_is_a_json_400(client):
    assert_error_body(client.get("/api/v1/me", HTTP_HOST="evil.example"), 400, "bad_request")


@pytest.mark.urls("tests.core.urls_errors")
def test_crashes_are_json_500_without_internals(client):
    client.raise_request_exception = False
    for url in ("/crash/api", "/crash/plain"):
        error = assert_error_body(client.get(url), 500, "server_error")
        assert "boom" not in str(error)


@pytest.mark.urls("tests.core.urls_errors")
@pytest.mark.parametrize(
    "kind, status, code",
    [
        ("invalid", 400, "invalid"),
        ("forbidden", 403, "permission_denied"),
        ("not_found", 404, "not_found"),
        ("conflict", 409, "conflict"),
        ("too_large", 413, "too_large"),
        ("unsupported", 415, "unsupported_type"),
    ],
)
def test_service_errors_map_to_their_status_only_in_the_api(client, kind, status, code):
    """Services raise plain exceptions; the API handler alone picks the status for each kind."""
    from tests.core.urls_errors import SERVICE_ERRORS

    assert set(SERVICE_ERRORS) == {"invalid", "forbidden", "not_found", "conflict", "too_large", "unsupported"}
    error = assert_error_body(client.get(f"/refuse/{kind}"), status, code)
    assert error["message"] == "Refused on purpose." and error["detail"] == {"field": ["Wrong."]}
