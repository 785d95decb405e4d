"""`bootstrap_demo` (run by `make run`) is idempotent and prints how to log in."""

import importlib.machinery
import io
import sys
import types

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from apps.domains.models import Domain, Membership

pytestmark = pytest.mark.django_db


def run(**options) -> str:
    out = io.StringIO()
    call_command("bootstrap_demo", stdout=out, **options)
    return out.getvalue()


def test_creates_admin_and_demo_domain_once(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        first = run(skip_sample=True)
        second = run(skip_sample=True)

    password = (tmp_path / "demo-admin-password").read_text().strip()
    assert f"Admin: http://127.0.0.1:8000/admin/  user: admin  password: {password}" in first
    assert f"password: {password}" in second
    assert "http://127.0.0.1:8000/api/docs/" in first
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert (tmp_path / "demo-admin-password").stat().st_mode & 0o077 == 0
    assert Domain.objects.filter(slug="demo").count() == 1
    assert Membership.objects.get(domain__slug="demo", user=admin).role == "owner"


def test_a_changed_password_is_never_overwritten(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        run(skip_sample=True)
        admin = get_user_model().objects.get(username="admin")
        admin.set_password("my own choice 123")
        admin.save()
        output = run(skip_sample=True)

    admin.refresh_from_db()
    assert admin.check_password("my own choice 123")
    assert "it was changed" in output


def test_the_sample_corpus_hook_calls_ingest_when_the_module_exists(tmp_path, monkeypatch):
    """The real apps.documents.sample may or may not exist yet; a stand-in module proves the hook."""
    calls = []
    sample = types.ModuleType("apps.documents.sample")
    sample.__spec__ = importlib.machinery.ModuleSpec("apps.documents.sample", None)
    sample.ingest_sample_corpus = lambda **kwargs: calls.append(kwargs) or "3 documents queued"
    monkeypatch.setitem(sys.modules, "apps.documents.sample", sample)

    with override_settings(VAR_DIR=tmp_path):
        output = run()

    assert calls == [{"domain": Domain.objects.get(slug="demo"), "user": get_user_model().objects.get(username="admin")}]
    assert "sample corpus: 3 documents queued" in output
