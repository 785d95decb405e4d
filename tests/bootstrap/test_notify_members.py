"""Bootstrap notifications: one per member, round and occasion, on every database."""

from __future__ import annotations

import pytest

from apps.bootstrap.models import DomainBootstrap
from apps.bootstrap.notices import notify_members
from apps.bootstrap.services import bootstrap_start
from apps.documents.models import Notification
from apps.domains.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bootstrap(user):
    return bootstrap_start(user=user, name="Rocketry", topic_keywords=["rocket"], seed_texts=[{"title": "t", "text": "Rockets burn fuel."}])


def _notify(bootstrap, **kwargs) -> int:
    return notify_members(bootstrap=bootstrap, kind="bootstrap_review", title="Ready", body="Review it.", **kwargs)


def test_a_repeated_notice_reaches_each_member_once_per_round(bootstrap, user):
    """A redelivered step repeats the call: members are not notified twice. This is the lookup that
    had to work on SQLite too (JSONField ``contains`` is PostgreSQL-only)."""
    editor = UserFactory()
    MembershipFactory(domain=bootstrap.domain, user=editor, role="editor")

    assert _notify(bootstrap) == 2
    assert _notify(bootstrap) == 0

    DomainBootstrap.objects.filter(pk=bootstrap.pk).update(generation_round=bootstrap.generation_round + 1)
    bootstrap.refresh_from_db()
    assert _notify(bootstrap) == 2, "a new round is news again"
    assert Notification.objects.filter(user=editor, kind="bootstrap_review").count() == 2


def test_extra_data_tells_notices_apart_and_roles_choose_the_members(bootstrap, user):
    viewer = UserFactory()
    MembershipFactory(domain=bootstrap.domain, user=viewer, role="viewer")
    owners = [Membership.Role.OWNER]

    assert _notify(bootstrap, roles=owners, extra={"step": "research"}) == 1
    assert _notify(bootstrap, roles=owners, extra={"step": "research"}) == 0
    assert _notify(bootstrap, roles=owners, extra={"step": "generate"}) == 1
    assert not Notification.objects.filter(user=viewer).exists()
    assert sorted(Notification.objects.filter(user=user).values_list("data__step", flat=True)) == ["generate", "research"]
