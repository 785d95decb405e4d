"""Admin pages cost the same number of queries with 10 documents in a domain as with 10,000.

The rows are bulk-inserted (tests/admin_cms/scale.py). Each page is fetched by an editor
of the domain (the scoped querysets, not a superuser's shortcut) once with 10 documents and
once with 10,000; the query counts must match. Server time per page is measured by
``bench/admin``, not asserted here.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.documents.models import Document
from tests.admin_cms.scale import populate

pytestmark = pytest.mark.django_db

CHANGELISTS = ["documents_document", "documents_documentversion", "documents_chunk", "documents_processingrun",
               "search_entity", "search_mention", "search_relation"]


def _pages(domain) -> dict[str, str]:
    document = Document.objects.filter(domain=domain).order_by("pk").first()
    pages = {name: reverse(f"admin:{name}_changelist") for name in CHANGELISTS}
    pages["documents_document (filtered by domain)"] = reverse("admin:documents_document_changelist") + f"?domain__id__exact={domain.pk}"
    pages["documents_document (search)"] = reverse("admin:documents_document_changelist") + "?q=Document"
    pages["document change page"] = reverse("admin:documents_document_change", args=[document.pk])
    pages["run change page"] = reverse("admin:documents_processingrun_change", args=[document.runs.get().pk])
    pages["entity change page"] = reverse("admin:search_entity_change",
                                          args=[domain.entities.order_by("pk").values_list("pk", flat=True).first()])
    return pages


def _queries(client, pages) -> dict[str, list[str]]:
    seen = {}
    for name, url in pages.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        seen[name] = [query["sql"] for query in queries.captured_queries]
    return seen


def _extra(small: list[str], large: list[str]) -> list[str]:
    """The queries one page ran more often with more rows (what to fix), their literals blanked."""
    def shape(sql):
        return re.sub(r"\b\d+\b", "N", re.sub(r"\((?:\d+, )*\d+\)", "(…)", sql))

    small, large = [shape(sql) for sql in small], [shape(sql) for sql in large]
    return [sql[:300] for sql in dict.fromkeys(large) if large.count(sql) > small.count(sql)]


def test_admin_query_counts_do_not_grow_with_the_number_of_documents(world, login):
    domain, editor = world["a"], login(world["editor"])
    editor.user = world["editor"]
    populate(domain, count=10, chunks=2)
    pages = _pages(domain)
    _queries(editor, pages)  # once to warm what a first request caches (content types, the session)
    small = _queries(editor, pages)
    populate(domain, count=9_990, start=10, chunks=2)
    assert Document.objects.filter(domain=domain).count() == 10_000
    large = _queries(editor, pages)
    # A list of more than one page fetches the page's keys first (PrimaryKeyPagePaginator): one query
    # more than a list that fits on one page, whatever the number of rows. More is a query per row
    # (10 rows against 50 on a page); the extra queries are listed to say which.
    grown = {name: (len(small[name]), len(large[name]), _extra(small[name], large[name])) for name in pages
             if len(large[name]) > len(small[name]) + (1 if name in CHANGELISTS or "(" in name else 0)}
    assert not grown, grown
    counts = {name: len(sqls) for name, sqls in large.items()}
    assert max(counts.values()) <= 30, counts
