"""The tantivy keyword engine across real processes, and its repair from the database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

from apps.documents.models import Chunk
from apps.search.engines.keyword import KeywordEntry, keyword_engine
from apps.search.reconcile import rebuild_domain, reconcile_all, reconcile_domain
from apps.search.services.keyword import keyword_search
from tests.search.factories import make_document

WRITER = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from apps.search.engines.keyword import KeywordEntry, keyword_engine
    version, first, count = (int(a) for a in sys.argv[1:4])
    for chunk_id in range(first, first + count):  # one commit per chunk: many chances to collide
        keyword_engine.write(domain_id=1, add=[KeywordEntry(chunk_id, version, version, "en", 0.0, ("wing", f"w{version}"))])
    """
)


def _spawn(*args: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "heysh.settings",
        "HEYSH_SEARCH_INDEX_DIR": str(settings.SEARCH_INDEX_DIR),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, *map(str, args)],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_writing_at_once_lose_nothing_and_a_reader_sees_their_commits():
    keyword_engine.write(domain_id=1, add=[KeywordEntry(1, 1, 1, "en", 0.0, ("wing",))])
    assert [c for c, _ in keyword_engine.search(domain_id=1, terms=["wing"], k=100)] == [
        1
    ]  # this process now has a reader open
    writers = [_spawn(100, 1000, 15), _spawn(200, 2000, 15)]
    for proc in writers:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    members = keyword_engine.version_members(domain_id=1)
    assert members == {1: {"1"}, 100: {str(i) for i in range(1000, 1015)}, 200: {str(i) for i in range(2000, 2015)}}
    # The reader opened before the other processes committed sees their segments, without a rebuild.
    assert len(keyword_engine.search(domain_id=1, terms=["wing"], k=100)) == 31
    assert {c for c, _ in keyword_engine.search(domain_id=1, terms=["w200"], k=100)} == set(range(2000, 2015))


@pytest.mark.django_db
def test_a_corrupted_index_is_reported_degrades_search_and_is_rebuilt_from_the_database(domain, owner_client):
    make_document(domain, "Wing", ["Swept wings delay the drag rise."])
    make_document(domain, "Rotor", ["Rotor blades flap."])
    assert keyword_engine.health(domain_ids=[domain.pk]).ok
    (keyword_engine.path(domain.pk) / "meta.json").write_text("{not json")

    health = keyword_engine.health(domain_ids=[domain.pk])
    assert not health.ok and health.extra["corrupt"] == [domain.pk]
    ready = owner_client.get("/ready").json()
    assert ready["components"]["search_index.keyword"]["ok"] is False and "search_index.keyword" in ready["degraded"]
    response = owner_client.get("/api/v1/search", {"q": "swept wings", "mode": "keyword"})
    assert response.status_code == 200 and "keyword" in response.json()["degraded"]

    assert rebuild_domain(domain=domain, backend="keyword") == 2
    assert keyword_engine.health(domain_ids=[domain.pk]).ok
    hits = keyword_search(domains=[(domain.pk, domain.index_version)], query="swept wings", k=5)
    assert [h.chunk_id for h in hits] == list(Chunk.objects.filter(document__title="Wing").values_list("pk", flat=True))

    # The beat reconcile repairs it too: an unreadable index is rebuilt, a missing one refilled.
    (keyword_engine.path(domain.pk) / "meta.json").write_text("{not json")
    reconcile_all()
    assert len(keyword_search(domains=[(domain.pk, domain.index_version)], query="rotor", k=5)) == 1
    keyword_engine.delete_domain(domain_id=domain.pk)
    reconcile_all()
    assert len(keyword_search(domains=[(domain.pk, domain.index_version)], query="swept wings", k=5)) == 1


@pytest.mark.django_db
def test_reconcile_restores_missing_entries_and_removes_unknown_ones(domain):
    kept = make_document(domain, "Kept", ["Flaps raise lift."])
    lost = make_document(domain, "Lost", ["Slats delay the stall."])
    keyword_engine.delete_version(domain_id=domain.pk, version_id=lost.current_version_id)
    keyword_engine.write(domain_id=domain.pk, add=[KeywordEntry(999999, 1, 999999, "en", 0.0, ("ghost",))])
    report = reconcile_domain(domain=domain, backend="keyword")
    assert report.reprojected == [lost.current_version_id] and report.removed == [999999]
    members = keyword_engine.version_members(domain_id=domain.pk)
    assert set(members) == {kept.current_version_id, lost.current_version_id}
    assert reconcile_domain(domain=domain, backend="keyword").drift == 0


@pytest.mark.django_db
def test_deleting_a_document_removes_exactly_its_entries(domain, django_capture_on_commit_callbacks):
    from apps.documents.services import document_delete

    gone = make_document(domain, "Gone", ["Canards trim pitch.", "Canards stall first."])
    stays = make_document(domain, "Stays", ["Canards on a fighter."])
    with django_capture_on_commit_callbacks(execute=True):  # the engine is written once the deletion commits
        document_delete(document=gone)
    assert keyword_engine.version_members(domain_id=domain.pk) == {
        stays.current_version_id: {str(pk) for pk in Chunk.objects.filter(document=stays).values_list("pk", flat=True)}
    }
