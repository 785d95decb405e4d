"""The editors' CMS in a real browser: headless Chromium against a live server and real workers.

Log in, bootstrap a domain from a pasted text, watch it reach review, approve it, upload
a document and see it become ready (the pages follow progress live, never reloaded), run a search preview, look at the graph view.
Screenshots land in tests/artifacts/ (gitignored) as test artefacts.
"""

from __future__ import annotations

import re

import pytest

from apps.documents.models import Document, DocumentStatus
from apps.domains.models import Domain
from tests.bootstrap.conftest import start_worker  # noqa: F401
from tests.browser.conftest import ARTIFACTS, admin_login
from tests.factories import UserFactory
from tests.workers import celery_workers, wait_until  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.workers, pytest.mark.django_db(transaction=True)]

SEED = (
    "The Hubble Space Telescope was launched by NASA in 1990. "
    "NASA operates the Hubble Space Telescope together with the European Space Agency. "
    "Edwin Hubble discovered that galaxies move away from the Milky Way. "
    "The James Webb Space Telescope observes in infrared light and orbits the Sun."
)
UPLOAD = (
    "The Chandra X-ray Observatory was launched by NASA in 1999.\n"
    "Chandra observes X-rays from black holes and supernova remnants.\n"
)


def _badge_becomes(page, kind: str, text: str, timeout: float = 150):
    """Wait, without reloading, until the page's live badge of a ``kind`` object reads ``text``."""
    page.evaluate("() => { window.__notReloaded = true; }")
    selector = f"[data-live-{kind}][data-live-field='badge']"
    try:
        page.wait_for_function(
            f"() => {{ const b = document.querySelector(\"{selector}\");"
            f" return b && b.textContent.trim().toLowerCase() === '{text.lower()}'; }}",  # badges are set in capitals
            timeout=timeout * 1000, polling=500,
        )
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise
    assert page.evaluate("() => window.__notReloaded === true"), "the page was reloaded"


def test_editor_bootstraps_reviews_uploads_and_searches(live_server, browser_page, start_worker, tmp_path):  # noqa: F811
    UserFactory(username="editor", is_staff=True, is_superuser=True)  # password: the factory's
    start_worker()
    page, base = browser_page, live_server.url

    admin_login(page, base, "editor")

    # Bootstrap a domain with a seed text.
    page.goto(f"{base}/admin/bootstrap/domainbootstrap/add/")
    page.fill("#id_name", "Space telescopes")
    page.fill("#id_topic_keywords", "Hubble Space Telescope, NASA")
    page.fill("#id_seed_title", "Telescopes")
    page.fill("#id_seed_text", SEED)
    # Seed files: the drop zone lists every chosen file; each can be taken out again before sending.
    seeds = [tmp_path / "seed-a.txt", tmp_path / "seed-b.md"]
    for seed in seeds:
        seed.write_text("A seed file.")
    page.set_input_files("#id_seed_files", [str(seed) for seed in seeds])
    assert page.locator("[data-dropzone-list] .cms-dropzone-name").all_inner_texts() == ["seed-a.txt", "seed-b.md"]
    page.screenshot(path=str(ARTIFACTS / "bootstrap-start.png"), full_page=True)
    for _ in seeds:
        page.locator("[data-dropzone-list] .cms-dropzone-remove").first.click()
    assert page.evaluate("() => document.getElementById('id_seed_files').files.length") == 0
    page.click("form#bootstrap-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/bootstrap/domainbootstrap/\d+/change/$"))
    review_url = page.url

    # The review page follows the bootstrap live; once it settles it offers a reload for the content.
    _badge_becomes(page, "bootstrap", "In review")
    page.click("#live-settled a")
    page.wait_for_load_state()
    content = page.inner_text("#content")
    assert "Hubble Space Telescope" in content  # generated key entity / overview
    assert "Approve and publish" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "bootstrap-review.png"), full_page=True)

    page.get_by_role("link", name=re.compile("Approve and publish")).first.click()
    page.fill("#id_comment", "Looks right.")
    page.click("form#bootstrap-form button[type=submit]")
    page.wait_for_url(review_url)
    _badge_becomes(page, "bootstrap", "Active", timeout=60)
    # The page can say "Active" (case-insensitively) before the activation step has committed.
    wait_until(lambda: Domain.objects.get(slug="space-telescopes").status == Domain.Status.ACTIVE,
               timeout=60, what="domain active")
    domain = Domain.objects.get(slug="space-telescopes")
    assert "Looks right." in page.inner_text("#content")

    # Upload a document in the admin; its status becomes ready.
    upload = tmp_path / "chandra.txt"
    upload.write_text(UPLOAD)
    page.goto(f"{base}/admin/documents/document/add/")
    page.select_option("#id_domain", str(domain.pk))
    page.set_input_files("#id_file", str(upload))
    # The theme's file box shows the chosen name (its script found the box: no console error).
    assert page.input_value("label[for=id_file] input[type=text]") == "chandra.txt"
    page.screenshot(path=str(ARTIFACTS / "document-add.png"), full_page=True)
    page.click("button[type=submit][name=_save]")
    page.wait_for_url(re.compile(r".*/admin/documents/document/.*"))
    document = wait_until(lambda: Document.objects.filter(domain=domain, title__icontains="chandra").first(), timeout=20,
                          what="uploaded document")
    page.goto(f"{base}/admin/documents/document/{document.pk}/change/")
    _badge_becomes(page, "document", "Ready", timeout=90)
    page.wait_for_function("() => document.querySelector(\"[data-live-field='timeline']\").textContent.includes('all 5 steps done')",
                           timeout=60_000)
    assert Document.objects.get(pk=document.pk).status == DocumentStatus.READY
    page.screenshot(path=str(ARTIFACTS / "document-ready.png"), full_page=True)

    # The domain's workspace, reached from the sidebar, leads to the search page.
    page.goto(f"{base}/admin/")
    page.get_by_role("link", name="Domain workspaces").click()
    page.get_by_role("link", name="Space telescopes").click()
    page.wait_for_selector("#workspace-links")
    page.screenshot(path=str(ARTIFACTS / "workspace.png"), full_page=True)
    page.locator("#workspace-links").get_by_text("Search", exact=True).click()
    page.wait_for_url(re.compile(rf".*/search/{domain.slug}/$"))

    # Search preview finds the uploaded document.
    page.fill("input[name=q]", "X-ray black holes")
    page.click("#search-preview-form button[type=submit]")
    page.wait_for_selector("#preview-results")
    results = page.inner_text("#preview-results")
    assert "chandra" in results.lower()
    page.screenshot(path=str(ARTIFACTS / "search-preview.png"), full_page=True)

    # Graph view draws the domain's entities from the graph API.
    page.goto(f"{base}/admin/bootstrap/domainbootstrap/graph/{domain.slug}/")
    page.wait_for_selector("#graph[data-ready='1']", timeout=30_000)
    status = page.inner_text("#graph-status")
    assert re.match(r"[1-9]\d* entities", status), status
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "graph.png"), full_page=True)

    # The dashboard shows the documents and the activity.
    page.goto(f"{base}/admin/")
    dashboard = page.inner_text("#dashboard")
    assert "Recent activity" in dashboard and "Queue depth" in dashboard
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Every page above ran under the Content-Security-Policy without a violation.
    assert "script-src" in page.evaluate("() => fetch('/admin/').then(r => r.headers.get('content-security-policy'))")
    csp_errors = [text for text in page.console_errors if "Content Security Policy" in text or "CSP violation" in text]
    assert csp_errors == [], csp_errors
