"""The bootstrap workflow end to end through real worker processes (no eager mode, no mocks)."""

from __future__ import annotations

import threading

import pytest

from apps.bootstrap.models import BootstrapStep, DomainBootstrap, GeneratedContent, ResearchCandidate
from apps.bootstrap.workflow import bootstrap_workflow
from apps.core.workflows.engine import workflow_sweep
from apps.documents.models import Chunk, Document, DocumentStatus, Notification
from apps.documents.services import document_create
from apps.domains.models import Domain
from tests.bootstrap.conftest import LEASE_SECONDS, wait_until
from tests.factories import DomainFactory, MembershipFactory, UserFactory
from tests.pipeline.stand_in import StandInServer

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

SEED_ASTRONOMY = (
    "The Hubble Space Telescope was launched by NASA in 1990. "
    "The Hubble Space Telescope observes galaxies in visible and ultraviolet light. "
    "Edwin Hubble discovered that galaxies move away from the Milky Way. "
    "NASA operates the Hubble Space Telescope together with the European Space Agency. "
    "The James Webb Space Telescope succeeded the Hubble Space Telescope in 2021."
)
SEED_WEBB = (
    "The James Webb Space Telescope observes in infrared light. "
    "NASA built the James Webb Space Telescope with the European Space Agency and the Canadian Space Agency. "
    "The James Webb Space Telescope orbits the Sun near the second Lagrange point."
)
OTHER_DOMAIN_TEXT = (
    "Telescope mirrors for the Hubble Space Telescope were polished by Perkin-Elmer. "
    "A flaw in the primary mirror of the Hubble Space Telescope was corrected in 1993."
)


def _progress(client, slug: str) -> dict:
    response = client.get(f"/api/v1/domains/{slug}/bootstrap/")
    assert response.status_code == 200, response.content
    return response.json()


def _wait_status(client, slug: str, status: str, timeout: float = 150) -> dict:
    last = {}

    def reached():
        last["body"] = body = _progress(client, slug)
        assert body["status"] != "failed", body
        return body if body["status"] == status else None

    try:
        return wait_until(reached, timeout=timeout, what=f"bootstrap {status}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last progress: {last.get('body')}") from None


def _assert_citations_point_at_chunks(contents) -> None:
    for content in contents:
        assert content.citations, f"statement without citation: {content.body!r}"
        for citation in content.citations:
            chunk = Chunk.objects.get(pk=citation["chunk_id"])
            assert chunk.document_id == citation["document_id"]
            assert chunk.domain_id == content.domain_id, "a citation must point into the domain itself"
            assert chunk.text[citation["start"]:citation["end"]] == citation["quote"]


def test_bootstrap_reaches_review_then_approval_activates_and_publishes(start_worker, client_for):
    creator, editor, viewer = UserFactory(), UserFactory(), UserFactory()
    other = DomainFactory(slug="space-archive")
    MembershipFactory(domain=other, user=creator, role="viewer")
    unreadable = DomainFactory(slug="secret-space")
    start_worker()
    borrowed, _ = document_create(domain=other, user=creator, text=OTHER_DOMAIN_TEXT, title="Hubble mirror")
    hidden, _ = document_create(domain=unreadable, user=None, text=OTHER_DOMAIN_TEXT + " Secret.", title="Hidden")
    wait_until(lambda: Document.objects.filter(pk__in=[borrowed.pk, hidden.pk], status=DocumentStatus.READY).count() == 2,
               timeout=120, what="other domains' documents ready")

    client = client_for(creator)
    response = client.post("/api/v1/bootstraps/", {
        "name": "Space telescopes", "description": "Observatories in orbit.",
        "topic_keywords": ["Hubble Space Telescope", "mirror"],
        "seed_texts": [{"title": "Hubble", "text": SEED_ASTRONOMY}, {"title": "Webb", "text": SEED_WEBB}],
        "seed_urls": ["http://127.0.0.1:9/private"],
    }, format="json")
    assert response.status_code == 201, response.content
    slug = response.json()["domain"]
    domain = Domain.objects.get(slug=slug)
    assert domain.status == Domain.Status.BOOTSTRAPPING
    MembershipFactory(domain=domain, user=editor, role="editor")
    MembershipFactory(domain=domain, user=viewer, role="viewer")

    body = _wait_status(client, slug, "in_review")
    domain.refresh_from_db()
    assert domain.status == Domain.Status.IN_REVIEW
    assert [s["status"] for s in body["steps"]] == ["succeeded", "succeeded", "succeeded", "pending"]

    # Research: seeds, the readable other domain's matching document (with why), never the unreadable one.
    kinds = {c["kind"]: c for c in body["candidates"]}
    assert {"seed_text", "seed_url", "domain_document"} <= set(kinds)
    assert kinds["domain_document"]["source_document_id"] == borrowed.pk
    assert "space-archive" in kinds["domain_document"]["reason"]
    assert all(c["source_document_id"] != hidden.pk for c in body["candidates"])
    # The private URL is refused and listed; it does not stop the others.
    url = kinds["seed_url"]
    assert url["outcome"] == "failed" and url["error"]
    assert body["documents"] == {"expected": 4, "done": 3, "failed": 1}
    copied = Document.objects.get(pk=ResearchCandidate.objects.get(source_document=borrowed).document_id)
    assert copied.domain_id == domain.pk and copied.current_version.text.strip() == OTHER_DOMAIN_TEXT

    # Generated content: all three sections, every statement cited into the new domain's chunks.
    content = body["content"]
    assert content["overview"] and content["key_entities"] and content["faq"]
    names = [e["name"] for e in content["key_entities"]]
    assert "Hubble Space Telescope" in names[:3]
    contents = GeneratedContent.objects.filter(domain=domain, round=1)
    assert set(contents.values_list("status", flat=True)) == {GeneratedContent.Status.IN_REVIEW}
    _assert_citations_point_at_chunks(contents)

    # Owners and editors are asked to review; viewers are not.
    review_notes = Notification.objects.filter(domain=domain, kind="bootstrap_review")
    assert set(review_notes.values_list("user__username", flat=True)) == {creator.username, editor.username}

    # Not published before approval.
    assert client.get(f"/api/v1/domains/{slug}/overview/").status_code == 404
    # A viewer cannot approve.
    assert client_for(viewer).post(f"/api/v1/domains/{slug}/bootstrap/approve/", {}, format="json").status_code == 403

    response = client_for(editor).post(f"/api/v1/domains/{slug}/bootstrap/approve/", {"comment": "Looks right."}, format="json")
    assert response.status_code == 202, response.content
    _wait_status(client, slug, "active", timeout=60)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE

    published = client_for(viewer).get(f"/api/v1/domains/{slug}/overview/")
    assert published.status_code == 200
    data = published.json()
    assert data["overview"] and data["faq"] and data["key_entities"]
    assert all(item["citations"] for item in data["overview"] + data["faq"] + data["key_entities"])
    activated = Notification.objects.filter(domain=domain, kind="domain_activated")
    assert set(activated.values_list("user__username", flat=True)) == {creator.username, editor.username, viewer.username}
    # Outsiders get a 404, not a 403.
    assert client_for(UserFactory()).get(f"/api/v1/domains/{slug}/overview/").status_code == 404


def test_request_changes_regenerates_and_keeps_editor_edits(start_worker, client_for):
    creator = UserFactory()
    start_worker()
    client = client_for(creator)
    response = client.post("/api/v1/bootstraps/", {
        "name": "Telescopes", "topic_keywords": ["telescope"], "seed_text": SEED_ASTRONOMY + " " + SEED_WEBB,
    }, format="json")
    assert response.status_code == 201, response.content
    slug = response.json()["domain"]
    body = _wait_status(client, slug, "in_review")
    assert body["round"] == 1
    first_overview = body["content"]["overview"][0]

    edited = client.patch(f"/api/v1/domains/{slug}/bootstrap/content/{first_overview['id']}/",
                          {"body": "Telescopes in orbit, edited by a person."}, format="json")
    assert edited.status_code == 200, edited.content
    assert client.post(f"/api/v1/domains/{slug}/bootstrap/request-changes/", {"comment": ""}, format="json").status_code == 400

    response = client.post(f"/api/v1/domains/{slug}/bootstrap/request-changes/",
                           {"comment": "Mention the Webb telescope."}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "running"
    body = _wait_status(client, slug, "in_review")
    assert body["round"] == 2
    assert body["content"]["overview"][0]["text"] == "Telescopes in orbit, edited by a person."
    assert body["content"]["overview"][0]["edited"] is True
    assert [d["decision"] for d in body["decisions"]] == ["request_changes"]
    assert body["decisions"][0]["comment"] == "Mention the Webb telescope."
    bootstrap = DomainBootstrap.objects.get(domain__slug=slug)
    assert GeneratedContent.objects.filter(bootstrap=bootstrap, round=1, status="superseded").exists()
    assert not GeneratedContent.objects.filter(bootstrap=bootstrap, round=2).exclude(status="in_review").exists()
    # Editors are notified again for the new round.
    assert Notification.objects.filter(domain=bootstrap.domain, kind="bootstrap_review", user=creator).count() == 2


def test_worker_killed_mid_step_is_recovered_by_the_sweep(start_worker, client_for):
    """A worker SIGKILLed while it holds a step: the lease expires, the sweep re-queues, another worker finishes."""
    creator = UserFactory()
    client = client_for(creator)
    response = client.post("/api/v1/bootstraps/", {"name": "Crash course", "seed_text": SEED_WEBB}, format="json")
    assert response.status_code == 201, response.content
    bootstrap_row = DomainBootstrap.objects.get(domain__slug=response.json()["domain"])
    # The first worker's research step asks a language model that does not answer: it is held
    # in the middle of the step (an HTTP wait, not a row lock: SQLite locks the whole file).
    answer = threading.Event()
    with StandInServer(lambda request: (answer.wait(120), (503, {}))[1]) as model:
        first = start_worker(HEYSH_LLM_BASE_URL=model.url)
        wait_until(lambda: model.requests, timeout=60, what="research step asking the model")
        running = BootstrapStep.objects.get(bootstrap=bootstrap_row, step="research")
        assert running.status == BootstrapStep.Status.RUNNING and running.attempt == 1
        first.kill()
        answer.set()
    assert first.process.returncode is not None

    step = BootstrapStep.objects.get(pk=running.pk)
    assert step.status == BootstrapStep.Status.RUNNING  # the dead worker still "holds" it
    start_worker()
    wait_until(lambda: workflow_sweep(bootstrap_workflow())["lease_expired"] == 1, timeout=LEASE_SECONDS + 30, interval=1, what="lease expiry")
    body = _wait_status(client, bootstrap_row.domain.slug, "in_review")
    research = next(s for s in body["steps"] if s["step"] == "research")
    assert research["status"] == "succeeded" and research["attempt"] == 2
    assert body["content"]["overview"]
