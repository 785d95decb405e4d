"""Per-object history in the admin: who changed what, scoped like the objects, read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.domains.models import Domain

pytestmark = pytest.mark.django_db


def test_domain_history_shows_who_and_what(world, login):
    domain = world["a"]
    domain._history_user = world["editor"]
    domain.description = "Telescopes, in orbit and on the ground."
    domain.save()
    page = login(world["editor"]).get(reverse("admin:domains_domain_history", args=[domain.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "editor-a" in text and "Description" in text


def test_history_is_scoped_and_read_only(world, login):
    b = world["b"]
    client = login(world["editor"])
    assert client.get(reverse("admin:domains_domain_history", args=[b.pk])).status_code in (302, 403, 404)
    version = Domain.history.filter(id=world["a"].pk).first()
    url = reverse("admin:domains_domain_simple_history", args=[world["a"].pk, version.history_id])
    assert client.get(url).status_code == 302  # to the history list: versions are not revertible here
    assert client.post(url, {"name": "Reverted"}).status_code == 405
    world["a"].refresh_from_db()
    assert world["a"].name == "Alpha"
