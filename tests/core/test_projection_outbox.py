"""The projection outbox: deleting a document or a domain never fails while a projection is
down; what the projections owe is recorded with the rows' deletion and applied when they are back.

``RecordingProjection`` is a TEST DOUBLE of a projection (Neo4j/Weaviate cannot run here):
it records the deletes it is asked for and can be switched "down" to refuse them."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.core.models import ProjectionDelete
from apps.core.projection_outbox import projection_deletes_drain, projection_deletes_record
from apps.documents.models import Document, DocumentVersion
from apps.documents.services import document_delete
from apps.domains.models import Domain
from apps.domains.services import domain_delete
from apps.search.backends.graph.embedded import EmbeddedGraphStore
from tests.backends.world import make_version

pytestmark = pytest.mark.django_db


class RecordingProjection(EmbeddedGraphStore):
    calls: list = []
    down = False

    def _record(self, call):
        if RecordingProjection.down:
            raise ConnectionRefusedError("projection unreachable at bolt://neo4j:7687")
        RecordingProjection.calls.append(call)

    def delete_version(self, *, domain_id, version_id):
        self._record(("version", domain_id, version_id))

    def delete_domain(self, *, domain_id):
        self._record(("domain", domain_id))


PROJECTION = {"default": {"BACKEND": f"{__name__}.RecordingProjection"}}


@pytest.fixture(autouse=True)
def projection():
    RecordingProjection.calls = []
    RecordingProjection.down = False
    with override_settings(GRAPH_STORES=PROJECTION):
        yield RecordingProjection


def due_now():
    ProjectionDelete.objects.update(next_attempt_at=timezone.now())


def test_document_delete_succeeds_while_the_projection_is_down_and_catches_up(projection, domain):
    v1 = make_version(domain=domain, title="gone")
    v2 = make_version(domain=domain, document=v1.document, title="gone v2")
    projection.down = True
    document_delete(document=v1.document)
    assert not Document.objects.filter(pk=v1.document_id).exists()
    assert not DocumentVersion.objects.filter(pk__in=[v1.pk, v2.pk]).exists()
    assert sorted(ProjectionDelete.objects.values_list("version_id", flat=True)) == [v1.pk, v2.pk]

    result = projection_deletes_drain()
    assert result == {"done": 0, "failed": 1, "pending": 2}, "one failure stops the pass"
    failed = ProjectionDelete.objects.get(attempts=1)
    assert "ConnectionRefusedError: projection unreachable" in failed.last_error
    assert failed.next_attempt_at > timezone.now()
    assert projection_deletes_drain() == {"done": 0, "failed": 1, "pending": 2}  # the other row, still due
    assert list(ProjectionDelete.objects.values_list("attempts", flat=True)) == [1, 1]

    projection.down = False
    due_now()
    assert projection_deletes_drain()["pending"] == 0
    assert sorted(projection.calls) == sorted([("version", domain.pk, v1.pk), ("version", domain.pk, v2.pk)])


def test_a_failed_row_backs_off_and_does_not_block_the_others(projection, domain):
    projection_deletes_record(domain_id=domain.pk, version_ids=[1, 2])
    projection.down = True
    projection_deletes_drain()
    projection.down = False
    assert projection_deletes_drain() == {"done": 1, "failed": 0, "pending": 1}  # the postponed one waits
    assert projection.calls == [("version", domain.pk, 2)]
    row = ProjectionDelete.objects.get()
    assert row.version_id == 1 and row.attempts == 1


def test_domain_delete_removes_its_projection_share(projection, domain, user):
    make_version(domain=domain, title="in the domain")
    domain_id = domain.pk
    projection.down = True
    domain_delete(user=user, domain=domain)
    assert not Domain.objects.filter(pk=domain_id).exists()
    row = ProjectionDelete.objects.get()
    assert (row.domain_id, row.version_id) == (domain_id, None)
    projection.down = False
    due_now()
    assert projection_deletes_drain() == {"done": 1, "failed": 0, "pending": 0}
    assert projection.calls == [("domain", domain_id)]


def test_the_drain_is_scheduled_by_beat():
    from apps.core.schedules import schedule_list

    schedule = next(s for s in schedule_list() if s.name == "projections: deletes")
    assert schedule.task == "tasks.projections.deletes_drain"
    from tasks.projections import deletes_drain

    assert deletes_drain.name == schedule.task


@pytest.mark.django_db(transaction=True)
def test_the_drain_runs_after_commit_in_eager_mode(projection, domain, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    import tasks.projections  # noqa: F401  (registers the task in this process)
    from heysh.celery import app

    app.conf.task_always_eager = True
    try:
        version = make_version(domain=domain, title="eager")
        document_delete(document=version.document)
    finally:
        app.conf.task_always_eager = False
    assert projection.calls == [("version", domain.pk, version.pk)]
    assert not ProjectionDelete.objects.exists()
