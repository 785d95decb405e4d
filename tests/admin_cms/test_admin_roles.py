"""Role enforcement in the admin: editors of A never see or change B; viewers read only; superusers all."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from unfold.admin import ModelAdmin

from apps.bootstrap.models import BootstrapStep, GeneratedContent, ReviewDecision
from apps.core.admin import ReadOnlyAdmin
from apps.domains.scoped_admin import DomainScopedAdmin
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def change_url(bootstrap):
    return reverse("admin:bootstrap_domainbootstrap_change", args=[bootstrap.pk])


def test_every_admin_is_themed_and_every_domain_model_is_scoped():
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, ModelAdmin), f"{model._meta.label} is not on unfold's ModelAdmin"
        has_domain = any(f.name == "domain" for f in model._meta.get_fields()) or model._meta.label == "domains.Domain"
        if has_domain:
            assert isinstance(model_admin, DomainScopedAdmin), f"{model._meta.label} admin is not domain scoped"


PIPELINE_WRITTEN = [
    "documents.DocumentVersion", "documents.Chunk", "documents.ProcessingRun", "documents.WebhookDelivery",
    "search.Mention", "search.RelationEvidence", "search.ExtractionCache",
]


@pytest.mark.parametrize("label", PIPELINE_WRITTEN)
def test_rows_the_pipeline_writes_are_read_only_even_for_superusers(label):
    """ReadOnlyAdmin comes before DomainScopedAdmin, so its refusals win over a superuser's rights."""
    model_admin = admin.site._registry[apps.get_model(label)]
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    assert isinstance(model_admin, ReadOnlyAdmin)
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_editor_lists_only_own_domain_bootstraps(world, login):
    client = login(world["editor"])
    page = client.get(reverse("admin:bootstrap_domainbootstrap_changelist"))
    assert page.status_code == 200
    assert b"Alpha" in page.content and b"Bravo" not in page.content


def test_editor_cannot_open_or_act_on_another_domain(world, login):
    client = login(world["editor"])
    assert client.get(change_url(world["boot_b"])).status_code == 302  # "does not exist" redirect, never the page
    response = client.post(reverse("admin:bootstrap_domainbootstrap_approve", args=[world["boot_b"].pk]), {"comment": "x"})
    assert response.status_code in (403, 404)
    assert not ReviewDecision.objects.filter(bootstrap=world["boot_b"]).exists()
    assert client.get(reverse("admin:domain-search-preview", args=["bravo"])).status_code == 404
    assert client.get(reverse("admin:domain-graph", args=["bravo"])).status_code == 404


def test_viewer_reads_but_cannot_review_or_edit(world, login):
    client = login(world["viewer"])
    page = client.get(change_url(world["boot_a"]))
    assert page.status_code == 200
    assert b"Approve and publish" not in page.content
    assert client.get(reverse("admin:bootstrap_domainbootstrap_approve", args=[world["boot_a"].pk])).status_code == 403
    response = client.post(reverse("admin:bootstrap_domainbootstrap_request_changes", args=[world["boot_a"].pk]),
                           {"comment": "no"})
    assert response.status_code == 403
    assert not ReviewDecision.objects.exists()


def test_editor_approves_from_the_admin(world, login):
    client = login(world["editor"])
    page = client.get(change_url(world["boot_a"]))
    assert b"Approve and publish" in page.content and b"Request changes" in page.content
    response = client.post(reverse("admin:bootstrap_domainbootstrap_approve", args=[world["boot_a"].pk]),
                           {"comment": "Ship it."})
    assert response.status_code == 302
    decision = ReviewDecision.objects.get(bootstrap=world["boot_a"])
    assert (decision.decision, decision.comment, decision.decided_by) == ("approve", "Ship it.", world["editor"])
    assert world["boot_a"].steps.get(step="activate").status == BootstrapStep.Status.QUEUED


def test_request_changes_needs_a_comment(world, login):
    client = login(world["editor"])
    url = reverse("admin:bootstrap_domainbootstrap_request_changes", args=[world["boot_a"].pk])
    page = client.post(url, {"comment": ""})
    assert page.status_code == 200 and b"comment is required" in page.content
    assert client.post(url, {"comment": "Add Webb."}).status_code == 302
    world["boot_a"].refresh_from_db()
    assert world["boot_a"].status == "running"
    assert world["boot_a"].steps.get(step="generate").status == BootstrapStep.Status.QUEUED


def test_editor_edits_content_inline_with_history(world, login):
    client = login(world["editor"])
    bootstrap = world["boot_a"]
    page = client.get(change_url(bootstrap))
    formset = page.context["inline_admin_formsets"]
    content_formset = next(f for f in formset if f.formset.model is GeneratedContent).formset
    data = {}
    for fs in formset:
        management = fs.formset.management_form
        for name, field in management.fields.items():
            data[f"{fs.formset.prefix}-{name}"] = management.initial.get(name, field.initial)
    overview = GeneratedContent.objects.get(bootstrap=bootstrap, section="overview")
    for index, form in enumerate(content_formset.forms):
        prefix = f"{content_formset.prefix}-{index}"
        data[f"{prefix}-id"] = form.instance.pk
        data[f"{prefix}-bootstrap"] = bootstrap.pk
        data[f"{prefix}-title"] = form.instance.title
        data[f"{prefix}-body"] = "Edited overview." if form.instance.pk == overview.pk else form.instance.body
    response = client.post(change_url(bootstrap), data)
    assert response.status_code == 302, response.content[:2000]
    overview.refresh_from_db()
    assert overview.body == "Edited overview." and overview.edited_by == world["editor"]
    latest = overview.history.first()
    assert latest.history_user == world["editor"] and latest.body == "Edited overview."


def test_viewer_cannot_edit_content_by_posting(world, login):
    client = login(world["viewer"])
    bootstrap = world["boot_a"]
    overview = GeneratedContent.objects.get(bootstrap=bootstrap, section="overview")
    client.post(change_url(bootstrap), {"contents-TOTAL_FORMS": "1", "contents-INITIAL_FORMS": "1",
                                        "contents-0-id": overview.pk, "contents-0-body": "hacked"})
    overview.refresh_from_db()
    assert overview.body != "hacked"


def test_superuser_sees_all_and_pages_render(world, login):
    client = login(world["root"])
    listing = client.get(reverse("admin:bootstrap_domainbootstrap_changelist"))
    assert b"Alpha" in listing.content and b"Bravo" in listing.content
    for url in [reverse("admin:index"), change_url(world["boot_b"]), reverse("admin:bootstrap_domainbootstrap_add"),
                reverse("admin:domain-graph", args=["bravo"]), reverse("admin:domain-search-preview", args=["bravo"]) + "?q=telescope",
                reverse("admin:django_celery_beat_periodictask_changelist")]:
        assert client.get(url).status_code == 200, url


def test_dashboard_is_scoped(world, login):
    page = login(world["editor"]).get(reverse("admin:index"))
    assert page.status_code == 200
    assert b"Domains awaiting review" in page.content
    assert b"Alpha" in page.content and b"Bravo" not in page.content
