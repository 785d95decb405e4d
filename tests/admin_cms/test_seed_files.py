"""A bootstrap's seed files: the start form takes many files at once through its drop zone."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.bootstrap.models import DomainBootstrap, ResearchCandidate
from apps.documents.models import Document
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_bootstrap_form_takes_many_seed_files(client):
    client.force_login(UserFactory(username="starter", is_staff=True))
    url = reverse("admin:bootstrap_domainbootstrap_add")
    page = client.get(url).content.decode()
    assert "data-dropzone" in page and 'name="seed_files"' in page and "multiple" in page
    assert "cms/upload.js" in page  # the form's media: the drop zone lists dropped files

    files = [
        SimpleUploadedFile("hubble.txt", b"The Hubble Space Telescope was launched in 1990.", "text/plain"),
        SimpleUploadedFile("webb.md", b"# Webb\n\nThe James Webb Space Telescope observes in infrared.", "text/markdown"),
    ]
    response = client.post(url, {"name": "Telescopes", "seed_files": files})
    assert response.status_code == 302, response.content.decode()[:2000]
    bootstrap = DomainBootstrap.objects.get(domain__slug="telescopes")
    seeds = ResearchCandidate.objects.filter(bootstrap=bootstrap, kind=ResearchCandidate.Kind.SEED_UPLOAD)
    assert sorted(seeds.values_list("title", flat=True)) == ["hubble", "webb"]
    assert Document.objects.filter(domain=bootstrap.domain).count() == 2
