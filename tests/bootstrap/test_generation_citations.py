"""Key entities and FAQ answers of a generated domain cite the chunks they came from."""

from __future__ import annotations

import pytest

from apps.bootstrap.generation import generate
from apps.bootstrap.models import DomainBootstrap, GeneratedContent
from apps.documents.models import Chunk, ProcessingRun
from apps.documents.services import document_create
from tests.pipeline.conftest import drain, no_broker  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

TEXTS = [
    "Acme Corporation is based in Berlin. Django uses PostgreSQL at Acme Corporation",
    "Acme Corporation hired many engineers. PostgreSQL stores the data of Acme Corporation",
    "Acme Corporation also uses Redis.",
]


def _cited_sentence(citation) -> str:
    chunk = Chunk.objects.get(pk=citation["chunk_id"])
    assert chunk.document_id == citation["document_id"]
    return chunk.text[citation["start"] : citation["end"]]


def test_key_entities_cite_several_chunks_and_faq_answers_cite_their_evidence(domain, user):
    for i, text in enumerate(TEXTS):
        document, _ = document_create(domain=domain, user=user, text=text, title=f"doc {i}")
        drain(ProcessingRun.objects.get(document=document))
    bootstrap = DomainBootstrap.objects.create(domain=domain, topic_keywords=["engineers"])
    generate(bootstrap)
    acme = GeneratedContent.objects.get(
        domain=domain, section=GeneratedContent.Section.ENTITY, title="Acme Corporation"
    )
    assert len({c["chunk_id"] for c in acme.citations}) == 3, "one citation per chunk that mentions it, up to three"
    for citation in acme.citations:
        assert "Acme Corporation" in _cited_sentence(citation) == citation["quote"]
    located = GeneratedContent.objects.get(
        domain=domain, section=GeneratedContent.Section.FAQ, title="Where is Acme Corporation?"
    )
    (citation,) = located.citations
    assert _cited_sentence(citation) == located.body == "Acme Corporation is based in Berlin."
