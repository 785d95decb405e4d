"""Changelist domain filters list only the user's domains; a notification is its recipient's only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.documents.models import Notification
from tests.factories import DomainFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "documents_document", "documents_documentversion", "documents_chunk", "documents_processingrun",
    "documents_notification", "documents_webhookdelivery", "search_entity", "search_relation", "search_mention",
    "search_relationevidence",
]


@pytest.fixture
def tenants(db):
    alpha = DomainFactory(name="Alpha tenant", slug="alpha")
    charlie = DomainFactory(name="Charlie tenant", slug="charlie")
    secret = DomainFactory(name="Secret tenant", slug="secret")
    viewer = UserFactory(username="viewer-ac", is_staff=True)
    MembershipFactory(domain=alpha, user=viewer, role="viewer")
    MembershipFactory(domain=charlie, user=viewer, role="viewer")
    return {"alpha": alpha, "charlie": charlie, "secret": secret, "viewer": viewer}


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_the_domain_filter_lists_only_the_users_domains(client, tenants, changelist):
    client.force_login(tenants["viewer"])
    page = client.get(reverse(f"admin:{changelist}_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alpha tenant" in html and "Charlie tenant" in html  # the filter is there, with the user's domains
    assert "Secret tenant" not in html
    assert f"domain__id__exact={tenants['secret'].pk}" not in html


def test_notifications_are_visible_to_their_recipient_only(client, tenants):
    alpha, viewer = tenants["alpha"], tenants["viewer"]
    colleague = UserFactory(username="colleague", is_staff=True)
    MembershipFactory(domain=alpha, user=colleague, role="owner")
    mine = Notification.objects.create(user=viewer, domain=alpha, kind="document_ready", title="Yours is ready")
    theirs = Notification.objects.create(user=colleague, domain=alpha, kind="document_ready", title="Colleague's private note")

    client.force_login(viewer)
    listing = client.get(reverse("admin:documents_notification_changelist")).content.decode()
    assert "Yours is ready" in listing and "Colleague&#x27;s private note" not in listing
    assert client.get(reverse("admin:documents_notification_change", args=[mine.pk])).status_code == 200
    other = client.get(reverse("admin:documents_notification_change", args=[theirs.pk]))
    assert other.status_code == 302  # unknown to this user: back to the admin index with a message
    assert "Colleague" not in client.get(other["Location"]).content.decode()

    client.force_login(colleague)
    assert "Colleague&#x27;s private note" in client.get(reverse("admin:documents_notification_changelist")).content.decode()
