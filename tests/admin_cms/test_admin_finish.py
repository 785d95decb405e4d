"""The admin looks finished: themed inputs, human status labels, actions only when they apply,
workflow-owned fields read-only, a failed run that says where it stopped, the site root and favicon."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.bootstrap.models import BootstrapStep, DomainBootstrap
from apps.documents.models import Document, DocumentStatus, ProcessingRun, StepRun
from apps.documents.services import document_create
from apps.domains.models import Domain
from apps.search.services.entities import entity_merge
from tests.search.factories import make_document, make_entity, mention

pytestmark = pytest.mark.django_db


def _input(html: str, name: str) -> str:
    match = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>', html)
    assert match, f"no input {name}"
    return match.group(0)


def test_every_add_document_input_wears_the_theme(world, login):
    html = login(world["editor"]).get(reverse("admin:documents_document_add")).content.decode()
    for name in ("title", "text", "url"):
        assert "border" in _input(html, name), name  # unfold's input classes: a visible field, not a label
    # The file input sits in unfold's wrapper, whose script writes the chosen name into the sibling text box.
    assert re.search(r'<input type="text" aria-label="Choose file to upload"', html)
    assert 'type="file" name="file"' in html


def test_status_is_a_label_on_the_change_page_never_a_tuple(world, login):
    document, _ = document_create(
        domain=world["a"], user=world["editor"], text="Harbour pilots guide ships.", title="Pilots"
    )
    html = login(world["editor"]).get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()
    assert "(&#x27;processing&#x27;" not in html and "('processing'" not in html
    assert re.search(r">\s*Processing\s*<", html)


def _actions(client, url: str) -> str:
    return client.get(url).content.decode()


def test_document_retry_shows_only_on_a_failed_document(world, login):
    document, _ = document_create(domain=world["a"], user=world["editor"], text="Ships and pilots.", title="Pilots")
    client, url = login(world["editor"]), reverse("admin:documents_document_change", args=[document.pk])
    retry = reverse("admin:documents_document_retry_failed_detail", args=[document.pk])
    assert retry not in _actions(client, url)
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.FAILED)
    assert retry in _actions(client, url)


def test_review_actions_show_only_in_review_and_retry_only_after_a_failure(world, login):
    bootstrap, client = world["boot_a"], login(world["editor"])
    url = reverse("admin:bootstrap_domainbootstrap_change", args=[bootstrap.pk])
    approve = reverse("admin:bootstrap_domainbootstrap_approve", args=[bootstrap.pk])
    retry = reverse("admin:bootstrap_domainbootstrap_retry_failed_step", args=[bootstrap.pk])
    page = _actions(client, url)
    assert approve in page and retry not in page

    DomainBootstrap.objects.filter(pk=bootstrap.pk).update(status=DomainBootstrap.Status.FAILED)
    bootstrap.steps.filter(step="generate").update(status=BootstrapStep.Status.FAILED)
    page = _actions(client, url)
    assert approve not in page and retry in page
    assert reverse("admin:bootstrap_domainbootstrap_request_changes", args=[bootstrap.pk]) not in page
    # A stale page that still posts Approve gets the service's refusal, not a 403.
    response = client.post(approve, {"comment": ""})
    assert response.status_code == 200 and "review" in response.content.decode().lower()


def test_undo_merge_shows_only_on_a_merged_entity(world, login):
    doc = make_document(world["a"], "Telescopes", ["Hubble and HST."], embed=False)
    hubble, hst = make_entity(world["a"], "Hubble"), make_entity(world["a"], "HST")
    mention(hubble, doc, 0)
    mention(hst, doc, 0)
    client = login(world["editor"])
    url = reverse("admin:search_entity_change", args=[hst.pk])
    undo = reverse("admin:search_entity_undo_merge", args=[hst.pk])
    merge = reverse("admin:search_entity_merge_into", args=[hst.pk])
    page = _actions(client, url)
    assert undo not in page and merge in page
    entity_merge(user=world["editor"], source=hst, target=hubble)
    page = _actions(client, url)
    assert undo in page and merge not in page


def test_domain_status_belongs_to_the_workflow(world, login):
    domain = world["a"]
    client = login(world["root"])
    html = client.get(reverse("admin:domains_domain_change", args=[domain.pk])).content.decode()
    assert 'name="status"' not in html
    client.post(
        reverse("admin:domains_domain_change", args=[domain.pk]),
        {
            "name": domain.name,
            "description": "",
            "status": "archived",
            "webhook_url": "",
            "webhook_secret": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "_save": "1",
        },
    )
    domain.refresh_from_db()
    assert domain.status == Domain.Status.IN_REVIEW


def test_a_failed_run_says_where_it_stopped(world, login):
    document, _ = document_create(domain=world["a"], user=world["editor"], text="Ships and pilots.", title="Pilots")
    run = ProcessingRun.objects.get(document=document)
    StepRun.objects.filter(run=run, step="analyze").update(status="succeeded")
    StepRun.objects.filter(run=run, step="extract").update(status="failed", error="extractor exploded")
    ProcessingRun.objects.filter(pk=run.pk).update(status=ProcessingRun.Status.FAILED, error="extractor exploded")
    client = login(world["editor"])
    for url in (
        reverse("admin:documents_document_change", args=[document.pk]),
        reverse("admin:documents_processingrun_changelist"),
    ):
        html = client.get(url).content.decode()
        assert "100% done" not in html and "· 100%" not in html, url
        assert "stopped at Knowledge extraction · 1 of 5 steps done" in html, url


def test_dashboard_lists_a_failed_run_with_its_whole_error(world, login):
    document, _ = document_create(domain=world["a"], user=world["editor"], text="Ships and pilots.", title="Pilots")
    long_error = "The extractor gave up: " + "a very long reason " * 20
    ProcessingRun.objects.filter(document=document).update(status=ProcessingRun.Status.FAILED, error=long_error)
    html = login(world["editor"]).get(reverse("admin:index")).content.decode()
    failed = html[html.index('id="failed-runs"') :]
    assert (
        "Pilots" in failed and long_error.strip() in failed
    )  # wrapped and clamped by CSS, not cut in a fixed-height cell


def test_root_redirects_to_the_admin_and_there_is_a_favicon(client):
    assert client.get("/")["Location"] == reverse("admin:index")
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 302 and favicon["Location"].endswith("cms/favicon.svg")
