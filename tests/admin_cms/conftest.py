from __future__ import annotations

import pytest

from apps.bootstrap import workflow
from apps.bootstrap.models import DomainBootstrap, GeneratedContent
from apps.domains.models import Domain
from tests.factories import DomainFactory, MembershipFactory, UserFactory


def bootstrap_in_review(domain: Domain, *, creator=None) -> DomainBootstrap:
    """A bootstrap waiting for review, with one statement per section (no workers needed)."""
    domain.status = Domain.Status.IN_REVIEW
    domain.save()
    bootstrap = DomainBootstrap.objects.create(domain=domain, status=DomainBootstrap.Status.IN_REVIEW,
                                              created_by=creator, generation_round=1, current_step="generate")
    workflow.ensure_steps(bootstrap)
    bootstrap.steps.filter(step__in=["research", "ingest", "generate"]).update(status="succeeded")
    for ordinal, (section, title, body) in enumerate([
        ("overview", "", f"{domain.name} is about telescopes."),
        ("entity", "Hubble", "Hubble is a space telescope."),
        ("faq", "What is Hubble?", "A space telescope."),
    ]):
        GeneratedContent.objects.create(
            bootstrap=bootstrap, domain=domain, round=1, section=section, ordinal=ordinal, title=title, body=body,
            status=GeneratedContent.Status.IN_REVIEW,
            citations=[{"document_id": 1, "chunk_id": 1, "start": 0, "end": 10, "quote": "telescopes"}],
        )
    return bootstrap


@pytest.fixture
def world(db):
    """Two domains in review; an editor and a viewer of A (staff), and a superuser."""
    a, b = DomainFactory(name="Alpha", slug="alpha"), DomainFactory(name="Bravo", slug="bravo")
    editor = UserFactory(username="editor-a", is_staff=True)
    viewer = UserFactory(username="viewer-a", is_staff=True)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    MembershipFactory(domain=a, user=editor, role="editor")
    MembershipFactory(domain=a, user=viewer, role="viewer")
    return {
        "a": a, "b": b, "editor": editor, "viewer": viewer, "root": root,
        "boot_a": bootstrap_in_review(a, creator=editor), "boot_b": bootstrap_in_review(b, creator=root),
    }


@pytest.fixture
def login(client):
    def as_(user):
        client.force_login(user)
        return client

    return as_
