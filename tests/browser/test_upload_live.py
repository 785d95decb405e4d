"""Many files dropped on a domain's upload page, then watched to "Ready" without a reload.

Headless Chromium against a live server and a real worker: create a domain, open its
workspace, put three files on the drop zone's input and drop a fourth, invalid one with a
DataTransfer. Each file is uploaded on its own: the three become documents, the invalid one
shows its own error. The document list then moves their badges to "Ready" in place (the page
is never reloaded: a marker set on its window survives), and the polling stops.
Screenshots land in tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import re

import pytest

from apps.documents.models import Document, DocumentStatus
from apps.domains.models import Domain, Membership
from tests.bootstrap.conftest import start_worker  # noqa: F401
from tests.browser.conftest import ARTIFACTS, admin_login
from tests.factories import UserFactory
from tests.workers import celery_workers, wait_until  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.workers, pytest.mark.django_db(transaction=True)]

FILES = {
    "chandra.txt": "The Chandra X-ray Observatory was launched by NASA in 1999.\nChandra observes black holes.\n",
    "spitzer.md": "# Spitzer\n\nThe Spitzer Space Telescope observed in infrared light for NASA until 2020.\n",
    "kepler.html": "<html><head><title>Kepler</title></head><body><p>The Kepler space telescope found "
                   "thousands of exoplanets orbiting other stars.</p></body></html>",
}
BADGES = "[data-live-document][data-live-field='badge']"


def _all_badges(page, text: str, count: int) -> str:
    """JS predicate: ``count`` document badges on the page, all reading ``text``."""
    return (
        f"() => {{ const b = Array.from(document.querySelectorAll(\"{BADGES}\"));"
        f" return b.length === {count} && b.every(e => e.textContent.trim().toLowerCase() === '{text.lower()}'); }}"
    )


def test_drop_many_files_and_watch_them_become_ready(live_server, browser_page, start_worker, tmp_path):  # noqa: F811
    # A staff editor, not a superuser: everything below is scoped to the domains they belong to.
    UserFactory(username="uploader", is_staff=True)
    start_worker()
    page, base = browser_page, live_server.url

    admin_login(page, base, "uploader")

    # Create a domain; its creator becomes its owner.
    page.goto(f"{base}/admin/domains/domain/add/")
    page.fill("#id_name", "Observatories")
    page.click("button[type=submit][name=_save]")
    page.wait_for_url(re.compile(r".*/admin/domains/domain/$"))
    domain = Domain.objects.get(slug="observatories")  # the slug field filled itself from the name
    assert Membership.objects.filter(domain=domain, user__username="uploader", role="owner").exists()

    # The workspace's Upload link opens the add page with the domain chosen.
    page.goto(f"{base}/admin/bootstrap/domainbootstrap/workspace/{domain.slug}/")
    page.locator("#workspace-links").get_by_text("Upload", exact=True).click()
    page.wait_for_selector("[data-dropzone][data-upload-url]")
    assert page.input_value("#id_domain") == str(domain.pk)

    # Three files through the drop zone's input, then one invalid file dropped on the zone.
    paths = []
    for name, text in FILES.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    page.set_input_files("#id_files", paths)
    drop = page.evaluate_handle(
        "() => { const dt = new DataTransfer();"
        " dt.items.add(new File([new Uint8Array([77, 90, 144, 0, 3, 0, 0, 0])], 'program.exe',"
        " {type: 'application/octet-stream'})); return dt; }"
    )
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": drop})

    page.wait_for_function("() => document.querySelectorAll('.cms-dropzone-done').length === 3")
    page.wait_for_selector(".cms-dropzone-failed .cms-dropzone-error")
    failed = page.locator(".cms-dropzone-failed")
    assert failed.count() == 1
    assert "program.exe" in failed.inner_text()
    assert "Unsupported file extension" in failed.locator(".cms-dropzone-error").inner_text()
    assert page.locator(".cms-dropzone-done .cms-dropzone-error").count() == 0
    assert Document.objects.filter(domain=domain).count() == 3
    page.wait_for_selector("#dropzone-list-link")
    assert "3 uploaded, 1 refused" in page.inner_text("[data-dropzone-summary]")
    page.screenshot(path=str(ARTIFACTS / "upload-many.png"), full_page=True)
    # The refused file's answer is a 400, which Chromium logs as a console error: that one is expected.
    refused = [e for e in page.console_errors if "status of 400" in e]
    assert len(refused) == 1, page.console_errors
    page.console_errors.remove(refused[0])

    # The document list, filtered to the domain: the badges reach "Ready" in place.
    page.click("#dropzone-list-link")
    page.wait_for_url(re.compile(rf".*/admin/documents/document/\?domain__id__exact={domain.pk}$"))
    page.evaluate("() => { window.__notReloaded = true; }")
    try:
        page.wait_for_function(_all_badges(page, "Ready", 3), timeout=150_000, polling=500)
        # A document is ready before its run's last step (notification) has finished; then the run ends
        # and the page stops polling.
        page.wait_for_function("() => document.documentElement.dataset.liveActive === '0'", timeout=60_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise
    assert page.evaluate("() => window.__notReloaded === true"), "the list was reloaded"
    assert set(Document.objects.filter(domain=domain).values_list("status", flat=True)) == {DocumentStatus.READY}
    progress = page.locator("[data-live-document][data-live-field='text']").all_inner_texts()
    assert progress == ["all 5 steps done"] * 3, progress
    page.screenshot(path=str(ARTIFACTS / "document-list-ready.png"), full_page=True)

    # The dashboard counts the three ready documents.
    page.goto(f"{base}/admin/")
    assert page.inner_text("[data-live-field='documents:ready']") == "3"
