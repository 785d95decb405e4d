"""Documents and runs API: intake answers, detail, chunks, runs, progress streams, roles and tenant isolation."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from apps.documents.analysis import analyze_version
from apps.documents.models import Chunk, Document, ProcessingRun, StepRun
from apps.documents.services import document_create
from apps.domains.authentication import generate_key
from apps.domains.models import ApiKey
from tests.documents import files

pytestmark = pytest.mark.django_db


def _make(domain, user, text="The lighthouse keeper wrote in the log every night.", **kwargs) -> Document:
    document, _ = document_create(domain=domain, user=user, text=text, **kwargs)
    return document


def test_create_by_multipart_upload_is_202_with_document_and_run(owner_client, domain, upload):
    response = owner_client.post(
        "/api/v1/documents", {"domain": domain.slug, "file": upload("optics.md", files.MARKDOWN), "title": "Optics"}, format="multipart"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["created"] is True
    assert body["document"]["title"] == "Optics" and body["document"]["domain"] == domain.slug
    assert body["document"]["status"] == "processing"
    assert body["document"]["current_version"]["mime"] == "text/markdown"
    run = ProcessingRun.objects.get(pk=body["run"]["id"])
    assert body["run"]["status"] == run.status == "queued" and run.document_id == body["document"]["id"]
    assert run.request_id == response["X-Request-ID"]  # logs of the run carry the request's id


def test_create_by_json_text_and_identical_text_is_200_with_existing(owner_client, domain):
    payload = {"domain": domain.slug, "text": "Foghorns sound when the fog rolls in.", "title": "Fog"}
    first = owner_client.post("/api/v1/documents", payload, format="json")
    second = owner_client.post("/api/v1/documents", payload, format="json")
    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["created"] is False
    assert second.json()["document"]["id"] == first.json()["document"]["id"]
    assert ProcessingRun.objects.count() == 1


def test_create_by_json_url(owner_client, domain):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, "url": "https://example.org/fog.html"}, format="json")
    assert response.status_code == 202
    assert response.json()["document"]["source"] == "url"
    assert response.json()["document"]["source_url"] == "https://example.org/fog.html"


@pytest.mark.parametrize(
    "payload, status, code, message",
    [
        ({"text": "   "}, 400, "empty", "The document is empty."),
        ({"url": "http://10.0.0.1/"}, 400, "forbidden_address", "private or reserved address (10.0.0.1)"),
        ({"url": "javascript:alert(1)"}, 400, "invalid_url", "Only http:// and https:// URLs can be fetched."),
        ({}, 400, "invalid", "Send exactly one of: a file, text, or a URL."),
        ({"text": "a", "url": "https://example.org/"}, 400, "invalid", "Send exactly one of"),
    ],
)
def test_create_bad_input_is_a_clear_4xx(owner_client, domain, payload, status, code, message):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, **payload}, format="json")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and message in error["message"]


def test_unsupported_upload_is_415(owner_client, domain, upload):
    response = owner_client.post("/api/v1/documents", {"domain": domain.slug, "file": upload("photo.pdf", files.PNG_1PX)}, format="multipart")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_type"
    assert "image/png" in response.json()["error"]["message"]


def test_missing_domain_field_is_400(owner_client):
    response = owner_client.post("/api/v1/documents", {"text": "hello"}, format="json")
    assert response.status_code == 400
    assert "domain" in response.json()["error"]["detail"]


def test_viewer_cannot_create_delete_reprocess_or_retry(client_for, viewer, domain, user):
    document = _make(domain, user)
    client = client_for(viewer)
    assert client.get(f"/api/v1/documents/{document.pk}").status_code == 200
    create = client.post("/api/v1/documents", {"domain": domain.slug, "text": "Viewer text."}, format="json")
    assert create.status_code == 403 and "editor or owner role" in create.json()["error"]["message"]
    assert client.delete(f"/api/v1/documents/{document.pk}").status_code == 403
    assert client.post(f"/api/v1/documents/{document.pk}/reprocess").status_code == 403
    assert client.post(f"/api/v1/documents/{document.pk}/retry").status_code == 403
    assert Document.objects.filter(domain=domain).count() == 1


def test_editor_can_create_and_delete(client_for, editor, domain, django_capture_on_commit_callbacks):
    client = client_for(editor)
    created = client.post("/api/v1/documents", {"domain": domain.slug, "text": "Editor text about beacons."}, format="json")
    assert created.status_code == 202
    document = Document.objects.get(pk=created.json()["document"]["id"])
    analyze_version(version_id=document.current_version_id)
    original = document.current_version.original
    assert original.storage.exists(original.name)
    domain.refresh_from_db()
    before = domain.index_version

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/api/v1/documents/{document.pk}")

    assert response.status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert not original.storage.exists(original.name)
    domain.refresh_from_db()
    assert domain.index_version == before + 1


def test_api_key_principal_editor_can_create_viewer_cannot(api_client, domain):
    raw, prefix, key_hash = generate_key()
    ApiKey.objects.create(domain=domain, name="ingest", prefix=prefix, key_hash=key_hash, role="editor")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    response = api_client.post("/api/v1/documents", {"domain": domain.slug, "text": "Sent by a service."}, format="json")
    assert response.status_code == 202
    assert Document.objects.get(pk=response.json()["document"]["id"]).created_by is None

    raw_viewer, prefix_viewer, hash_viewer = generate_key()
    ApiKey.objects.create(domain=domain, name="reader", prefix=prefix_viewer, key_hash=hash_viewer, role="viewer")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_viewer}")
    assert api_client.post("/api/v1/documents", {"domain": domain.slug, "text": "Nope."}, format="json").status_code == 403


def test_list_is_scoped_and_filters_by_domain_and_status(owner_client, domain, user, other_domain, other_user):
    mine = _make(domain, user)
    failed = _make(domain, user, text="A failed one.")
    Document.objects.filter(pk=failed.pk).update(status="failed")
    theirs = _make(other_domain, other_user, text="Secret of the other domain.")

    ids = [d["id"] for d in owner_client.get("/api/v1/documents").json()["results"]]
    assert set(ids) == {mine.pk, failed.pk} and theirs.pk not in ids
    assert [d["id"] for d in owner_client.get("/api/v1/documents?status=failed").json()["results"]] == [failed.pk]
    assert owner_client.get(f"/api/v1/documents?domain={other_domain.slug}").json()["results"] == []
    assert owner_client.get("/api/v1/documents?status=bogus").status_code == 400


def test_other_domains_documents_runs_and_chunks_are_404(owner_client, domain, other_domain, other_user):
    theirs = _make(other_domain, other_user, text="Hidden text of another domain.")
    analyze_version(version_id=theirs.current_version_id)
    run = ProcessingRun.objects.get(document=theirs)
    for method, url in [
        ("get", f"/api/v1/documents/{theirs.pk}"),
        ("delete", f"/api/v1/documents/{theirs.pk}"),
        ("get", f"/api/v1/documents/{theirs.pk}/chunks"),
        ("post", f"/api/v1/documents/{theirs.pk}/reprocess"),
        ("post", f"/api/v1/documents/{theirs.pk}/retry"),
        ("post", f"/api/v1/documents/{theirs.pk}/versions"),
        ("get", f"/api/v1/runs/{run.pk}"),
        ("get", f"/api/v1/runs/{run.pk}/events"),
    ]:
        response = getattr(owner_client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["error"]["code"] == "not_found"
    create = owner_client.post("/api/v1/documents", {"domain": other_domain.slug, "text": "Intruder."}, format="json")
    assert create.status_code == 404
    assert Document.objects.filter(pk=theirs.pk).exists()


def test_detail_shows_current_version_and_latest_run(owner_client, domain, user):
    document = _make(domain, user, text="The keeper climbed the tower stairs every evening to light the lamp. " * 3)
    analyze_version(version_id=document.current_version_id)
    body = owner_client.get(f"/api/v1/documents/{document.pk}").json()
    version = body["current_version"]
    assert version["number"] == 1 and version["mime"] == "text/plain" and version["language"] == "en"
    assert version["chunk_count"] == Chunk.objects.filter(document=document).count() >= 1
    assert version["size"] == len(("The keeper climbed the tower stairs every evening to light the lamp. " * 3).encode())
    assert body["latest_run"]["status"] == "queued" and body["latest_run"]["progress"] == 0


def test_chunks_are_paginated_with_offsets(owner_client, domain, user):
    from django.test import override_settings

    with override_settings(CHUNK_CHARS=100, CHUNK_OVERLAP_CHARS=10):
        document = _make(domain, user, text=" ".join(f"Sentence number {i} about lamps." for i in range(60)))
        analyze_version(version_id=document.current_version_id)
    version = document.versions.get()
    version.refresh_from_db()
    page = owner_client.get(f"/api/v1/documents/{document.pk}/chunks?limit=5").json()
    assert page["count"] == Chunk.objects.filter(version=version).count() > 5
    assert [c["ordinal"] for c in page["results"]] == [0, 1, 2, 3, 4]
    for chunk in page["results"]:
        assert version.text[chunk["start"] : chunk["end"]] == chunk["text"] and chunk["version"] == 1
    second = owner_client.get(f"/api/v1/documents/{document.pk}/chunks?limit=5&offset=5").json()
    assert second["results"][0]["ordinal"] == 5
    assert owner_client.get(f"/api/v1/documents/{document.pk}/chunks?version=9").status_code == 404


def _finish(run: ProcessingRun, steps: int, *, failed: bool = False) -> None:
    now = timezone.now()
    for step in StepRun.objects.filter(run=run).order_by("ordinal")[:steps]:
        step.status, step.attempt, step.started_at, step.finished_at = "succeeded", 1, now, now
        step.save()
    if failed:
        step = StepRun.objects.filter(run=run, ordinal=steps).first()
        step.status, step.attempt, step.error = "failed", 4, "Gave up after 4 attempts: boom"
        step.save()
        run.status, run.error = "failed", "Knowledge extraction: Gave up after 4 attempts: boom"
        run.save()


def test_run_detail_has_steps_attempts_timings_and_progress(owner_client, domain, user):
    document = _make(domain, user)
    run = ProcessingRun.objects.get(document=document)
    _finish(run, 2)
    StepRun.objects.filter(run=run, step="graph").update(status="running", attempt=2, started_at=timezone.now())
    body = owner_client.get(f"/api/v1/runs/{run.pk}").json()
    assert body["id"] == run.pk and body["document"] == document.pk and body["version"] == 1
    assert [s["step"] for s in body["steps"]] == ["analyze", "extract", "graph", "index", "notify"]
    assert [s["status"] for s in body["steps"]] == ["succeeded", "succeeded", "running", "pending", "pending"]
    assert body["steps"][2]["attempt"] == 2 and body["steps"][0]["duration_s"] == 0.0
    assert body["progress"] == 50  # 2 done + half of a running one, of 5
    assert body["state"]


def test_failed_run_shows_error_and_retry_requeues(owner_client, domain, user):
    document = _make(domain, user)
    run = ProcessingRun.objects.get(document=document)
    _finish(run, 1, failed=True)
    body = owner_client.get(f"/api/v1/runs/{run.pk}").json()
    assert body["status"] == "failed" and body["progress"] == 20  # the 1 of 5 steps it reached, never 100
    assert body["steps"][1]["error"] == "Gave up after 4 attempts: boom"

    response = owner_client.post(f"/api/v1/documents/{document.pk}/retry")
    assert response.status_code == 202
    assert StepRun.objects.get(run=run, step="extract").status == "queued"
    assert StepRun.objects.get(run=run, step="extract").attempt == 0
    again = owner_client.post(f"/api/v1/documents/{document.pk}/retry")
    assert again.status_code == 409 and again.json()["error"]["message"] == "Nothing to retry: no step of the latest run has failed."


def test_reprocess_restarts_from_analysis(owner_client, domain, user):
    document = _make(domain, user)
    run = ProcessingRun.objects.get(document=document)
    _finish(run, 5)
    ProcessingRun.objects.filter(pk=run.pk).update(status="succeeded")
    response = owner_client.post(f"/api/v1/documents/{document.pk}/reprocess")
    assert response.status_code == 202 and response.json()["id"] == run.pk
    statuses = dict(StepRun.objects.filter(run=run).values_list("step", "status"))
    assert statuses == {"analyze": "queued", "extract": "pending", "graph": "pending", "index": "pending", "notify": "pending"}


def test_new_version_upload(owner_client, domain, user, upload):
    document = _make(domain, user)
    response = owner_client.post(f"/api/v1/documents/{document.pk}/versions", {"file": upload("v2.txt", b"Second edition.")}, format="multipart")
    assert response.status_code == 202 and response.json()["version"] == 2
    assert document.versions.count() == 2


def _events(response) -> list[tuple[str, dict]]:
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_events_stream_progress_then_done_for_a_finished_run(owner_client, domain, user):
    document = _make(domain, user)
    run = ProcessingRun.objects.get(document=document)
    _finish(run, 5)
    ProcessingRun.objects.filter(pk=run.pk).update(status="succeeded")
    response = owner_client.get(f"/api/v1/runs/{run.pk}/events", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = _events(response)
    assert [name for name, _ in events] == ["progress", "done"]
    assert events[-1][1]["status"] == "succeeded" and events[-1][1]["progress"] == 100


def test_events_stream_reports_a_failed_run_at_the_progress_it_reached(owner_client, domain, user):
    run = ProcessingRun.objects.get(document=_make(domain, user))
    _finish(run, 3, failed=True)
    events = _events(owner_client.get(f"/api/v1/runs/{run.pk}/events", HTTP_ACCEPT="text/event-stream"))
    assert [name for name, _ in events] == ["progress", "done"]
    assert events[-1][1]["status"] == "failed" and events[-1][1]["progress"] == 60


def test_events_stream_accepts_the_session_cookie_as_a_browser_eventsource_sends_it(client, domain, user):
    """EventSource sends no Authorization header, only cookies; a GET needs no CSRF token."""
    run = ProcessingRun.objects.get(document=_make(domain, user))
    _finish(run, 5)
    ProcessingRun.objects.filter(pk=run.pk).update(status="succeeded")
    assert client.get(f"/api/v1/runs/{run.pk}/events", HTTP_ACCEPT="text/event-stream").status_code == 401
    client.force_login(user)
    response = client.get(f"/api/v1/runs/{run.pk}/events", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert [name for name, _ in _events(response)] == ["progress", "done"]


def _finished_run(domain, user) -> ProcessingRun:
    run = ProcessingRun.objects.get(document=_make(domain, user))
    _finish(run, 5)
    ProcessingRun.objects.filter(pk=run.pk).update(status="succeeded")
    return run


def test_events_stream_accepts_a_ticket_from_an_authenticated_post(owner_client, client, domain, user):
    run = _finished_run(domain, user)
    issued = owner_client.post(f"/api/v1/runs/{run.pk}/events/ticket")
    assert issued.status_code == 200 and issued.json()["expires_in"] == 60
    response = client.get(f"/api/v1/runs/{run.pk}/events?ticket={issued.json()['ticket']}", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    assert [name for name, _ in _events(response)] == ["progress", "done"]


def test_events_ticket_forged_expired_or_for_another_run_is_a_401_json(owner_client, client, domain, user):
    from django.core import signing  # only this test forges tickets

    run = _finished_run(domain, user)
    other = ProcessingRun.objects.get(document=_make(domain, user, text="A second, different text."))
    ticket = owner_client.post(f"/api/v1/runs/{run.pk}/events/ticket").json()["ticket"]
    forged = signing.dumps({"user": user.pk, "run": run.pk}, salt="another-salt", compress=True)
    for url, message in [
        (f"/api/v1/runs/{run.pk}/events?ticket={forged}", "The ticket is not valid."),
        (f"/api/v1/runs/{run.pk}/events?ticket={ticket[:-2]}xx", "The ticket is not valid."),
        (f"/api/v1/runs/{other.pk}/events?ticket={ticket}", "The ticket is for another run."),
    ]:
        response = client.get(url, HTTP_ACCEPT="text/event-stream")
        assert response.status_code == 401 and response["Content-Type"] == "application/json", url
        assert response.json()["error"]["message"] == message
    from unittest import mock  # the clock is moved past max_age instead of sleeping a minute

    with mock.patch("django.core.signing.time.time", return_value=__import__("time").time() + 61):
        response = client.get(f"/api/v1/runs/{run.pk}/events?ticket={ticket}", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 401 and response.json()["error"]["message"] == "The ticket has expired; request a new one."


def test_events_ticket_does_not_widen_a_users_access(client_for, owner_client, client, domain, user):
    """An outsider gets no ticket; a ticket outlives no membership: the stream re-checks the domain."""
    from tests.factories import UserFactory  # an outsider to the domain

    run = _finished_run(domain, user)
    assert client_for(UserFactory()).post(f"/api/v1/runs/{run.pk}/events/ticket").status_code == 404
    ticket = owner_client.post(f"/api/v1/runs/{run.pk}/events/ticket").json()["ticket"]
    domain.memberships.filter(user=user).delete()
    assert client.get(f"/api/v1/runs/{run.pk}/events?ticket={ticket}", HTTP_ACCEPT="text/event-stream").status_code == 404


def test_events_stream_stops_at_its_time_limit(owner_client, domain, user):
    run = ProcessingRun.objects.get(document=_make(domain, user))
    events = _events(owner_client.get(f"/api/v1/runs/{run.pk}/events?timeout=0.2"))
    assert [name for name, _ in events] == ["progress", "timeout"]
    assert events[0][1]["status"] == "queued"


def test_long_poll_answers_at_once_when_state_differs_and_after_wait_otherwise(owner_client, domain, user):
    run = ProcessingRun.objects.get(document=_make(domain, user))
    current = owner_client.get(f"/api/v1/runs/{run.pk}").json()
    changed = owner_client.get(f"/api/v1/runs/{run.pk}/events?wait=5&since=stale-state").json()
    assert changed["state"] == current["state"]
    import time

    started = time.monotonic()
    unchanged = owner_client.get(f"/api/v1/runs/{run.pk}?wait=0.6&since={current['state']}").json()
    assert time.monotonic() - started >= 0.5
    assert unchanged["state"] == current["state"]
    assert owner_client.get(f"/api/v1/runs/{run.pk}?wait=abc").status_code == 400


def test_openapi_schema_documents_the_endpoints(owner_client):
    response = owner_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for path in ["/api/v1/documents", "/api/v1/documents/{id}", "/api/v1/documents/{id}/chunks", "/api/v1/runs/{id}", "/api/v1/runs/{id}/events"]:
        assert path in paths, path
