"""Reads of documents, runs and chunks, always scoped to the caller's domains (another domain's → 404)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, QuerySet
from django.http import Http404

from apps.core.exceptions import Forbidden
from apps.documents.models import Chunk, Document, DocumentStatus, ProcessingRun, StepRun
from apps.domains.access import readable_domains, writable_domains
from apps.domains.models import Domain

FINISHED_RUN_STATUSES = (ProcessingRun.Status.SUCCEEDED, ProcessingRun.Status.FAILED)


def document_list(*, user, domain_slug: str | None = None, status: str | None = None, source: str | None = None) -> QuerySet[Document]:
    # A list or a detail never needs the current version's full text (it can be megabytes).
    documents = (
        Document.objects.filter(domain__in=readable_domains(user))
        .select_related("domain", "current_version")
        .defer("current_version__text")
    )
    if domain_slug:
        documents = documents.filter(domain__slug=domain_slug)
    if status:
        documents = documents.filter(status=status)
    if source:
        documents = documents.filter(source=source)
    return documents.order_by("-created_at", "-pk")


def document_get(*, user, pk: int) -> Document:
    document = document_list(user=user).filter(pk=pk).first()
    if document is None:
        raise Http404("Document not found.")
    return document


def domain_for_write(*, user, slug: str) -> Domain:
    """The domain a document goes into: 404 when unreadable, Forbidden when the caller may only read it."""
    domain = readable_domains(user).filter(slug=slug).first()
    if domain is None:
        raise Http404("Domain not found.")
    if not writable_domains(user).filter(pk=domain.pk).exists():
        raise Forbidden("You need the editor or owner role in this domain to change its documents.")
    return domain


def document_can_write(*, user, document: Document) -> bool:
    return writable_domains(user).filter(pk=document.domain_id).exists()


def document_latest_run(*, document: Document) -> ProcessingRun | None:
    return ProcessingRun.objects.filter(document=document).order_by("-version__number", "-pk").first()


def document_chunk_counts(*, version_ids: list[int]) -> dict[int, int]:
    rows = Chunk.objects.filter(version_id__in=version_ids).values("version_id").annotate(n=Count("pk"))
    return {row["version_id"]: row["n"] for row in rows}


def chunk_list(*, document: Document, version=None) -> QuerySet[Chunk]:
    version_id = version.pk if version is not None else document.current_version_id
    return Chunk.objects.filter(document=document, version_id=version_id).order_by("ordinal")


def run_get(*, user, pk: int) -> ProcessingRun:
    run = (
        ProcessingRun.objects.filter(pk=pk, domain__in=readable_domains(user))
        .select_related("document", "version").first()
    )
    if run is None:
        raise Http404("Run not found.")
    return run


def run_steps(*, run: ProcessingRun) -> list[StepRun]:
    return list(StepRun.objects.filter(run=run).order_by("ordinal"))


def run_progress(*, run: ProcessingRun, steps: list[StepRun]) -> int:
    """Percent done: finished steps count whole, a running step half. A succeeded run is 100; a failed
    run keeps the share its succeeded steps reached, so it never reads as done."""
    if run.status == ProcessingRun.Status.SUCCEEDED:
        return 100
    if run.status == ProcessingRun.Status.FAILED:
        return int(100 * sum(1 for s in steps if s.status == StepRun.Status.SUCCEEDED) / len(steps)) if steps else 0
    if not steps:
        return 0
    done = sum(1.0 for s in steps if s.status == StepRun.Status.SUCCEEDED)
    done += sum(0.5 for s in steps if s.status == StepRun.Status.RUNNING)
    return min(99, int(100 * done / len(steps)))


def run_state_token(*, run: ProcessingRun, steps: list[StepRun]) -> str:
    """Changes whenever anything a progress display shows changes (long-poll and SSE compare it)."""
    return "|".join([run.status] + [f"{s.step}:{s.status}:{s.attempt}" for s in steps])


def run_is_finished(run: ProcessingRun) -> bool:
    return run.status in FINISHED_RUN_STATUSES



ACTIVE_DOCUMENT_STATUSES = (DocumentStatus.PENDING, DocumentStatus.PROCESSING)


@dataclass(frozen=True)
class DocumentProgress:
    """Where one document's processing stands: what a live progress display shows."""

    document: Document
    run: ProcessingRun | None
    steps: list[StepRun] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return run_progress(run=self.run, steps=self.steps) if self.run is not None else 0

    @property
    def current_step(self) -> StepRun | None:
        """The step running now, else the next one to run; None once the run is finished."""
        if self.run is None or run_is_finished(self.run):
            return None
        running = next((s for s in self.steps if s.status == StepRun.Status.RUNNING), None)
        return running or next((s for s in self.steps if s.status != StepRun.Status.SUCCEEDED), None)

    @property
    def active(self) -> bool:
        return self.document.status in ACTIVE_DOCUMENT_STATUSES or (self.run is not None and not run_is_finished(self.run))


def documents_progress(*, user, ids: list[int]) -> list[DocumentProgress]:
    """The latest run and its steps of each readable document among ``ids``, in three queries."""
    documents = list(
        Document.objects.filter(pk__in=ids, domain__in=readable_domains(user)).only("pk", "status", "error", "domain_id")
    )
    latest: dict[int, ProcessingRun] = {}
    runs = ProcessingRun.objects.filter(document__in=documents).order_by("document_id", "-version__number", "-pk")
    for run in runs.only("pk", "document_id", "status", "version_id"):
        latest.setdefault(run.document_id, run)
    steps: dict[int, list[StepRun]] = {}
    step_rows = StepRun.objects.filter(run__in=list(latest.values())).order_by("run_id", "ordinal")
    for step in step_rows.only("pk", "run_id", "step", "status", "attempt", "ordinal"):
        steps.setdefault(step.run_id, []).append(step)
    return [
        DocumentProgress(document=d, run=latest.get(d.pk), steps=steps.get(latest[d.pk].pk, []) if d.pk in latest else [])
        for d in documents
    ]
