"""The bodies of the bootstrap steps. Each is idempotent: a re-delivery redoes nothing twice."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.bootstrap import generation, research, workflow
from apps.bootstrap.models import BootstrapStep, DomainBootstrap, GeneratedContent, ResearchCandidate
from apps.bootstrap.notices import notify_members
from apps.bootstrap.workflow import BootstrapContext, BootstrapWorkflow
from apps.core.exceptions import ServiceError
from apps.core.workflows.registry import workflow_register
from apps.core.workflows.spec import Outcome, StepSpec, one_at_a_time
from apps.documents.errors import PermanentError
from apps.documents.services import document_create
from apps.domains.models import Domain, Membership

logger = logging.getLogger(__name__)


def research_step(ctx: BootstrapContext) -> Outcome:
    workflow.set_domain_status(ctx.bootstrap, Domain.Status.BOOTSTRAPPING)
    return Outcome(research.research_run(ctx.bootstrap))


def _create_document(bootstrap: DomainBootstrap, candidate: ResearchCandidate):
    user, domain = bootstrap.created_by, bootstrap.domain
    if candidate.kind == ResearchCandidate.Kind.SEED_URL:
        return document_create(domain=domain, user=user, url=candidate.url, request_id=f"bootstrap-{bootstrap.pk}")
    if candidate.kind == ResearchCandidate.Kind.SEED_TEXT:
        return document_create(domain=domain, user=user, text=candidate.text, title=candidate.title,
                               request_id=f"bootstrap-{bootstrap.pk}")
    if candidate.kind == ResearchCandidate.Kind.DOMAIN_DOCUMENT:
        source = candidate.source_document
        version = source.current_version if source else None
        if version is None or not version.text.strip():
            raise PermanentError("The source document has no text to copy (it is gone or not processed).")
        title = f"{source.title} (from {source.domain.name})"[:300]
        return document_create(domain=domain, user=user, text=version.text, title=title,
                               request_id=f"bootstrap-{bootstrap.pk}")
    raise PermanentError(f"{candidate.get_kind_display()} candidates are not ingestible.")


def ingest_step(ctx: BootstrapContext) -> Outcome:
    """Ingest every chosen candidate through the document pipeline, then wait for all of them."""
    bootstrap = ctx.bootstrap
    created, refused = 0, 0
    pending = bootstrap.candidates.filter(chosen=True, document__isnull=True, outcome=ResearchCandidate.Outcome.PENDING)
    for candidate in pending.select_related("source_document__domain", "source_document__current_version"):
        if candidate.kind == ResearchCandidate.Kind.SUGGESTED_TOPIC:
            ResearchCandidate.objects.filter(pk=candidate.pk).update(outcome=ResearchCandidate.Outcome.SKIPPED)
            continue
        try:
            with transaction.atomic():
                document, _ = _create_document(bootstrap, candidate)
                ResearchCandidate.objects.filter(pk=candidate.pk).update(document=document)
            created += 1
        except (PermanentError, ServiceError) as exc:
            # One refused source is listed with its reason; the others go on.
            ResearchCandidate.objects.filter(pk=candidate.pk).update(
                outcome=ResearchCandidate.Outcome.FAILED, error=exc.message[:2000]
            )
            refused += 1
    chosen = bootstrap.candidates.filter(chosen=True).exclude(outcome=ResearchCandidate.Outcome.SKIPPED)
    failed = chosen.filter(outcome=ResearchCandidate.Outcome.FAILED, document__isnull=True).count()
    with transaction.atomic():
        locked = DomainBootstrap.objects.select_for_update().get(pk=bootstrap.pk)
        locked.documents_expected = chosen.count()
        # Refusals at creation never reach the document hook: count them here (recomputed, so idempotent).
        locked.documents_failed = failed + chosen.filter(outcome=ResearchCandidate.Outcome.FAILED, document__isnull=False).count()
        locked.documents_done = chosen.filter(outcome=ResearchCandidate.Outcome.READY).count()
        locked.save(update_fields=["documents_expected", "documents_failed", "documents_done", "updated_at"])
    return Outcome({"created": created, "refused": refused, "expected": chosen.count()}, wait=True)


def generate_step(ctx: BootstrapContext) -> Outcome:
    bootstrap = ctx.bootstrap
    output = generation.generate(bootstrap)
    bootstrap.refresh_from_db()
    with transaction.atomic():
        DomainBootstrap.objects.filter(pk=bootstrap.pk).update(status=DomainBootstrap.Status.IN_REVIEW, error="")
        workflow.set_domain_status(bootstrap, Domain.Status.IN_REVIEW)
        notify_members(
            bootstrap=bootstrap, kind="bootstrap_review", roles=[Membership.Role.OWNER, Membership.Role.EDITOR],
            title=f"{bootstrap.domain.name} is ready for review",
            body=f"Round {output['round']}: {sum(output['statements'].values())} generated statements wait for review.",
        )
    # Review is a person's decision: the activation step is queued by the approval, not here.
    return Outcome(output, advance=False)


def activate_step(ctx: BootstrapContext) -> Outcome:
    bootstrap = ctx.bootstrap
    with transaction.atomic():
        contents = GeneratedContent.objects.filter(bootstrap=bootstrap, round=bootstrap.generation_round)
        approved = contents.exclude(status=GeneratedContent.Status.APPROVED).update(status=GeneratedContent.Status.APPROVED)
        now = timezone.now()
        DomainBootstrap.objects.filter(pk=bootstrap.pk).update(status=DomainBootstrap.Status.ACTIVE, activated_at=now, error="")
        workflow.set_domain_status(bootstrap, Domain.Status.ACTIVE)
        notify_members(bootstrap=bootstrap, kind="domain_activated", title=f"{bootstrap.domain.name} is live",
                       body="Its overview, key entities and FAQ are published.")
    return Outcome({"published": contents.count(), "newly_approved": approved})


# Research and activation coordinate, ingestion writes documents, generation is AI work.
BOOTSTRAP = workflow_register(BootstrapWorkflow(steps=[
    StepSpec(BootstrapStep.Step.RESEARCH, "general", one_at_a_time(research_step)),
    StepSpec(BootstrapStep.Step.INGEST, "storage", one_at_a_time(ingest_step)),
    StepSpec(BootstrapStep.Step.GENERATE, "ai", one_at_a_time(generate_step)),
    StepSpec(BootstrapStep.Step.ACTIVATE, "general", one_at_a_time(activate_step)),
]))
