from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import DomainFactory, MembershipFactory, UserFactory


@pytest.fixture
def upload():
    def make(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
        return SimpleUploadedFile(name, data, content_type=content_type)

    return make


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def other_domain(db, other_user):
    domain = DomainFactory()
    MembershipFactory(domain=domain, user=other_user, role="owner")
    return domain


@pytest.fixture
def viewer(db, domain):
    user = UserFactory()
    MembershipFactory(domain=domain, user=user, role="viewer")
    return user


@pytest.fixture
def editor(db, domain):
    user = UserFactory()
    MembershipFactory(domain=domain, user=user, role="editor")
    return user
