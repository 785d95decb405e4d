"""A domain workspace links everything about a domain; the sidebar leads there and hides internals from editors."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_workspace_links_every_place_of_the_domain(world, login):
    a = world["a"]
    html = login(world["editor"]).get(reverse("admin:domain-workspace", args=[a.slug])).content.decode()
    for url in (
        f"{reverse('admin:documents_document_changelist')}?domain__id__exact={a.pk}",
        f"{reverse('admin:documents_document_add')}?domain={a.pk}",
        reverse("admin:domain-search-preview", args=[a.slug]),
        reverse("admin:domain-graph", args=[a.slug]),
        reverse("admin:bootstrap_domainbootstrap_change", args=[world["boot_a"].pk]),
        f"{reverse('admin:domains_membership_changelist')}?domain__id__exact={a.pk}",
        f"{reverse('admin:domains_apikey_changelist')}?domain__id__exact={a.pk}",
    ):
        assert f'href="{url}"' in html.replace("&amp;", "&"), url


def test_another_domains_workspace_is_a_404_and_the_index_lists_only_readable_domains(world, login):
    client = login(world["editor"])
    assert client.get(reverse("admin:domain-workspace", args=[world["b"].slug])).status_code == 404
    index = client.get(reverse("admin:domain-workspaces")).content.decode()
    assert "Alpha" in index and "Bravo" not in index


def test_the_domain_list_links_to_the_workspace(world, login):
    html = login(world["editor"]).get(reverse("admin:domains_domain_changelist")).content.decode()
    assert reverse("admin:domain-workspace", args=[world["a"].slug]) in html


def test_search_picks_a_domain(world, login):
    client = login(world["editor"])
    first = client.get(reverse("admin:domain-search"))
    assert first.status_code == 302 and first["Location"] == reverse("admin:domain-search-preview", args=["alpha"])
    assert client.get(reverse("admin:domain-search") + "?domain=bravo").status_code == 404
    page = client.get(reverse("admin:domain-search-preview", args=["alpha"])).content.decode()
    assert 'id="search-domain"' in page and '<option value="alpha" selected>' in page and "bravo" not in page


def test_internals_sit_under_advanced_for_superusers_only(world, login):
    chunks = reverse("admin:documents_chunk_changelist")
    editor_page = login(world["editor"]).get(reverse("admin:index")).content.decode()
    assert reverse("admin:domain-workspaces") in editor_page
    assert "Advanced" not in editor_page and f'href="{chunks}"' not in editor_page
    root_page = login(world["root"]).get(reverse("admin:index")).content.decode()
    assert "Advanced" in root_page and chunks in root_page
