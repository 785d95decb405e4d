"""Eight parallel POSTs of one URL create one document: a URL has no content hash (nor a
unique constraint) until it is fetched, so the submissions are serialized per (domain, URL).
Real threads and connections, on PostgreSQL and on SQLite."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.core.workflows import engine
from apps.documents.models import Document, ProcessingRun
from tests.factories import DomainFactory, MembershipFactory, UserFactory

PARALLEL = 8


@pytest.mark.django_db(transaction=True)
def test_parallel_posts_of_one_url_create_one_document(monkeypatch):
    # The run's first message would go to the broker on commit; no worker runs in this test.
    monkeypatch.setattr(engine, "send", lambda *args, **kwargs: None)
    owner, domain = UserFactory(), DomainFactory()
    MembershipFactory(domain=domain, user=owner, role="owner")
    barrier = threading.Barrier(PARALLEL)
    answers, errors = [], []

    def post():
        client = APIClient()
        client.force_authenticate(owner)
        try:
            barrier.wait(timeout=20)
            response = client.post(
                "/api/v1/documents", {"domain": domain.slug, "url": "https://example.org/same-page.html"}, format="json"
            )
            answers.append((response.status_code, response.json()))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(answers) == PARALLEL
    assert all(status < 500 for status, _ in answers), answers
    assert sorted(body["created"] for _, body in answers) == [False] * (PARALLEL - 1) + [True]
    assert len({body["document"]["id"] for _, body in answers}) == 1
    assert Document.objects.filter(domain=domain).count() == 1
    assert ProcessingRun.objects.filter(domain=domain).count() == 1


@pytest.mark.django_db
def test_a_different_url_is_still_a_second_document(owner_client, domain, monkeypatch):
    monkeypatch.setattr(engine, "send", lambda *args, **kwargs: None)
    for url in ("https://example.org/a.html", "https://example.org/b.html", "https://example.org/a.html"):
        owner_client.post("/api/v1/documents", {"domain": domain.slug, "url": url}, format="json")
    assert sorted(Document.objects.filter(domain=domain).values_list("source_url", flat=True)) == [
        "https://example.org/a.html",
        "https://example.org/b.html",
    ]
