"""Every model registered in the admin: changelist, add and change pages load for a superuser.

Models are read from ``admin.site._registry`` at collection time, so a newly registered
admin is covered without touching this file. Objects for the change page come from a
factory in ``tests/factories.py`` / ``tests/<area>/factories.py`` when there is one,
otherwise from a generic builder that fills required fields; a model that neither can
build is reported as a skip naming the reason (changelist and add are still tested).
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import itertools
import pkgutil
import uuid
from pathlib import Path

import factory
import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

import tests

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
_counter = itertools.count(1)


def _factories() -> dict[type[models.Model], type]:
    """DjangoModelFactory subclasses of every tests/**/factories.py, by model."""
    modules = ["tests.factories"]
    root = Path(tests.__file__).parent
    modules += [f"tests.{info.name}.factories" for info in pkgutil.iter_modules([str(root)]) if info.ispkg
                and (root / info.name / "factories.py").exists()]
    found = {}
    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, factory.django.DjangoModelFactory)
                    and value._meta.model is not None and not value._meta.abstract):
                found.setdefault(value._meta.model, value)
    return found


def _value_for(field: models.Field, depth: int):
    n = next(_counter)
    if field.choices:
        return field.choices[0][0] if not isinstance(field.choices[0][1], (list, tuple)) else field.choices[0][1][0][0]
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        return build(field.related_model, depth + 1)
    if isinstance(field, models.EmailField):
        return f"admin-test-{n}@example.com"
    if isinstance(field, models.URLField):
        return f"https://example.com/{n}"
    if isinstance(field, models.SlugField):
        return f"admin-test-{n}"
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, models.FileField):
        return f"admin-test/{n}.txt"
    if isinstance(field, models.CharField | models.TextField):
        return f"admin test {n}"[: field.max_length or None]
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DecimalField):
        return decimal.Decimal("1")
    if isinstance(field, models.IntegerField | models.FloatField):
        return 1
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return datetime.date.today()
    if isinstance(field, models.TimeField):
        return datetime.time(12, 0)
    if isinstance(field, models.DurationField):
        return datetime.timedelta(seconds=1)
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.BinaryField):
        return b""
    raise LookupError(f"no generic value for {type(field).__name__} {field.name!r}")


def _required_values(model, depth: int) -> dict:
    values = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.has_default() or field.null or getattr(field, "auto_now", False) \
                or getattr(field, "auto_now_add", False):
            continue
        if isinstance(field, models.CharField | models.TextField) and field.blank and not field.unique:
            continue
        values[field.name] = _value_for(field, depth)
    return values


def build(model: type[models.Model], depth: int = 0) -> models.Model:
    known = _factories()
    if model in known:
        return known[model]()
    if model is get_user_model():
        return model.objects.create_user(username=f"admin-test-{next(_counter)}", password="x-Password-1")
    if depth > 4:
        raise LookupError(f"{model._meta.label}: relation chain too deep")
    try:
        with transaction.atomic():
            return model.objects.create(**_required_values(model, depth))
    except Exception as first_error:
        # Some models need one of several optional relations (a periodic task needs one
        # schedule): try each nullable foreign key in turn before giving up.
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.null and field.related_model is not model:
                try:
                    with transaction.atomic():
                        return model.objects.create(**_required_values(model, depth), **{field.name: build(field.related_model, depth + 1)})
                except Exception:
                    continue
        raise first_error


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _ids(items):
    return [model._meta.label for model, _ in items]


@pytest.fixture
def superuser_client(client):
    superuser = get_user_model().objects.create_superuser("admin-pages", "admin-pages@example.com", "x-Password-1")
    client.force_login(superuser)
    client.superuser = superuser
    return client


def test_the_admin_registers_the_core_models():
    labels = {model._meta.label for model, _ in REGISTERED}
    assert {"domains.Domain", "domains.Membership", "domains.ApiKey", "auth.User"} <= labels


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=_ids(REGISTERED))
def test_changelist_and_add_pages_load(superuser_client, model, model_admin):
    assert superuser_client.get(_url(model, "changelist")).status_code == 200

    request = RequestFactory().get("/admin/")
    request.user = superuser_client.superuser
    add_page = superuser_client.get(_url(model, "add"))
    assert add_page.status_code == (200 if model_admin.has_add_permission(request) else 403)


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=_ids(REGISTERED))
def test_change_page_and_populated_changelist_load(superuser_client, model, model_admin):
    try:
        obj = build(model)
    except Exception as exc:  # a newly registered model needs a factory: fail, never skip, until it has one
        pytest.fail(f"no factory for {model._meta.label} and the generic builder failed: {type(exc).__name__}: {exc}")

    change_page = superuser_client.get(_url(model, "change", obj.pk))
    assert change_page.status_code == 200
    changelist = superuser_client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    if model_admin.list_display_links is not None:
        assert _url(model, "change", obj.pk) in changelist.content.decode()
