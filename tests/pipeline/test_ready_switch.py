"""Switching a document to its new version invalidates every process's search caches."""

import pytest

from apps.documents import workflow
from apps.documents.models import Document, ProcessingRun
from tests.search.factories import bump, make_document

pytestmark = pytest.mark.django_db


def _search(client, query):
    response = client.post("/api/v1/search", {"query": query, "mode": "keyword", "k": 5}, format="json")
    assert response.status_code == 200, response.content
    return [r["document"]["title"] for r in response.json()["results"]]


def test_new_version_is_found_even_if_a_cache_was_built_between_index_and_ready(owner_client, domain, settings):
    settings.SEARCH_KEYWORD_FEEDBACK_DOCS = 0  # exact term matching only
    doc = make_document(domain, "Marsupials", ["The quokka smiles on Rottnest island."])
    first = doc.current_version
    make_document(domain, "Marsupials", ["The wombat digs burrows at night."], document=doc)
    second = Document.objects.get(pk=doc.pk).current_version
    # The state after the index step (chunks embedded, index_version bumped) but before the run
    # made the new version current: a search now builds caches that hold only the old version.
    Document.objects.filter(pk=doc.pk).update(current_version=first)
    bump(domain)
    assert _search(owner_client, "wombat") == []

    run = ProcessingRun.objects.create(version=second, document=doc, domain=domain)
    workflow.runs_ready([run])

    assert _search(owner_client, "wombat") == ["Marsupials"]
