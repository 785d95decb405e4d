"""The entity form's alias list and the merge target's autocomplete in a real browser.

No worker: the entities are written directly. Any console error or CSP violation fails the
test (tests/browser/conftest.py).
"""

from __future__ import annotations

import re

import pytest

from apps.search.models import Entity
from tests.browser.conftest import admin_login
from tests.factories import DomainFactory, MembershipFactory, UserFactory
from tests.search.factories import make_entity

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_aliases_are_added_and_removed_and_the_merge_target_is_searched(live_server, browser_page):
    domain = DomainFactory(slug="space")
    editor = UserFactory(username="editor", is_staff=True)
    MembershipFactory(domain=domain, user=editor, role="editor")
    hubble, hst = make_entity(domain, "Hubble"), make_entity(domain, "HST")
    Entity.objects.filter(pk=hubble.pk).update(aliases=["Hubble telescope", "HT"])
    page, base = browser_page, live_server.url

    admin_login(page, base, "editor")

    page.goto(f"{base}/admin/search/entity/{hubble.pk}/change/")
    page.click("li:has(input[value='HT']) button[title=Remove]")
    page.click("text=Add alias")
    page.locator("input[name=aliases]").last.fill("Hubble Space Telescope")
    page.click("button[name=_continue]")
    page.wait_for_load_state("domcontentloaded")
    hubble.refresh_from_db()
    assert hubble.aliases == ["Hubble telescope", "Hubble Space Telescope"]

    page.goto(f"{base}/admin/search/entity/{hst.pk}/merge_into/")
    page.click(".select2-selection")
    page.keyboard.type("hub")
    option = page.locator(".select2-results__option", has_text="Hubble")
    option.first.wait_for()
    option.first.click()
    page.click("button[name=submit]")
    page.wait_for_url(re.compile(rf".*/entity/{hubble.pk}/change/$"), wait_until="domcontentloaded")
    hst.refresh_from_db()
    assert hst.merged_into_id == hubble.pk
