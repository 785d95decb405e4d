"""Writes of the bootstrap workflow. The API, the admin and the tasks call these."""

from __future__ import annotations

import hashlib
import logging
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.bootstrap import workflow
from apps.bootstrap.models import BootstrapStep, DomainBootstrap, GeneratedContent, ResearchCandidate, ReviewDecision
from apps.core import tracing
from apps.core.exceptions import Conflict, Forbidden, NotFound, ServiceError
from apps.documents.services import document_create
from apps.domains.access import readable_domains, writable_domains
from apps.domains.models import Domain
from apps.domains.services import domain_create

logger = logging.getLogger(__name__)

MAX_SEED_TEXTS = 20
MAX_SEED_URLS = 50
MAX_KEYWORDS = 20


def _clean_keywords(keywords) -> list[str]:
    seen, result = set(), []
    for word in keywords or []:
        word = " ".join(str(word).split())[:80]
        if word and word.casefold() not in seen:
            seen.add(word.casefold())
            result.append(word)
    if len(result) > MAX_KEYWORDS:
        raise ServiceError(f"At most {MAX_KEYWORDS} topic keywords.", detail={"topic_keywords": ["Too many keywords."]})
    return result


def _seed_sources(seed_urls, seed_texts) -> list[dict]:
    seeds: list[dict] = []
    urls = [u.strip() for u in seed_urls or [] if u and u.strip()]
    if len(urls) > MAX_SEED_URLS:
        raise ServiceError(f"At most {MAX_SEED_URLS} seed URLs.", detail={"seed_urls": ["Too many URLs."]})
    for url in urls:
        if not url.lower().startswith(("http://", "https://")):
            raise ServiceError(f"Seed URL {url[:100]!r} must start with http:// or https://.", detail={"seed_urls": ["Not an http(s) URL."]})
        seeds.append({"kind": "url", "url": url})
    texts = [t for t in seed_texts or [] if (t.get("text") or "").strip()]
    if len(texts) > MAX_SEED_TEXTS:
        raise ServiceError(f"At most {MAX_SEED_TEXTS} seed texts.", detail={"seed_texts": ["Too many texts."]})
    for index, item in enumerate(texts, start=1):
        title = (item.get("title") or "").strip()[:300] or f"Seed text {index}"
        seeds.append({"kind": "text", "title": title, "text": item["text"]})
    return seeds


def bootstrap_start(
    *, user, name: str, slug: str = "", description: str = "", topic_keywords=None,
    seed_urls=None, seed_texts=None, seed_files=None, request_id: str = "",
) -> DomainBootstrap:
    """Create a domain in ``bootstrapping`` and start its workflow at the research step.

    ``seed_texts`` is a list of ``{"title", "text"}``; ``seed_files`` uploaded files, ingested
    at once (their bytes cannot wait in a JSON column) and listed as research candidates.
    """
    name = (name or "").strip()
    if not name:
        raise ServiceError("A domain needs a name.", detail={"name": ["This field is required."]})
    # A slug given is used as given (the API checked its shape); one derived from a name with no
    # letters or digits in it ("!!!") falls back to a random one rather than refusing the name.
    slug = slug or slugify(name)[:80] or f"domain-{secrets.token_hex(4)}"
    keywords = _clean_keywords(topic_keywords)
    seeds = _seed_sources(seed_urls, seed_texts)
    with transaction.atomic():
        domain = domain_create(user=user, slug=slug, name=name, description=description, status=Domain.Status.BOOTSTRAPPING)
        bootstrap = DomainBootstrap.objects.create(
            domain=domain, topic_keywords=keywords, seed_sources=seeds, created_by=user, started_at=timezone.now(),
            trace_parent=tracing.trace_parent(),
        )
        workflow.ensure_steps(bootstrap)
        for upload in seed_files or []:
            _ingest_seed_upload(bootstrap=bootstrap, user=user, upload=upload, request_id=request_id)
        workflow.step_queue(bootstrap.steps.get(step=BootstrapStep.Step.RESEARCH))
    return bootstrap


def _ingest_seed_upload(*, bootstrap: DomainBootstrap, user, upload, request_id: str) -> None:
    try:
        with transaction.atomic():
            document, _ = document_create(domain=bootstrap.domain, user=user, upload=upload, request_id=request_id)
    except ServiceError:
        raise
    except Exception as exc:  # a bad file is refused with its reason, not a crash
        raise ServiceError(f"Seed file {getattr(upload, 'name', '')!r} was refused: {exc}", detail={"seed_files": [str(exc)]})
    ResearchCandidate.objects.get_or_create(
        bootstrap=bootstrap, key=f"upload:{document.pk}",
        defaults={
            "kind": ResearchCandidate.Kind.SEED_UPLOAD, "title": document.title, "document": document,
            "reason": "Uploaded by the creator as a seed source.", "score": 1.0,
        },
    )


def _require_writer(*, user, bootstrap: DomainBootstrap) -> None:
    if not readable_domains(user).filter(pk=bootstrap.domain_id).exists():
        raise NotFound("Not found.")
    if not writable_domains(user).filter(pk=bootstrap.domain_id).exists():
        raise Forbidden("Only owners and editors of this domain may review it.")


def _require_in_review(bootstrap: DomainBootstrap) -> None:
    if bootstrap.status != DomainBootstrap.Status.IN_REVIEW:
        raise Conflict(
            f"The domain is not waiting for review (bootstrap is {bootstrap.get_status_display().lower()})."
        )


def bootstrap_approve(*, user, bootstrap: DomainBootstrap, comment: str = "") -> ReviewDecision:
    """Approve the generated content under review; activation (publishing) runs as the last step."""
    _require_writer(user=user, bootstrap=bootstrap)
    with transaction.atomic():
        bootstrap = DomainBootstrap.objects.select_for_update().get(pk=bootstrap.pk)
        _require_in_review(bootstrap)
        decision = ReviewDecision.objects.create(
            bootstrap=bootstrap, domain_id=bootstrap.domain_id, round=bootstrap.generation_round,
            decision=ReviewDecision.Decision.APPROVE, comment=comment.strip(), decided_by=user,
        )
        bootstrap.reviewed_at = timezone.now()
        bootstrap.save(update_fields=["reviewed_at", "updated_at"])
        workflow.step_queue(bootstrap.steps.get(step=BootstrapStep.Step.ACTIVATE), reset_attempts=True)
    return decision


def bootstrap_request_changes(*, user, bootstrap: DomainBootstrap, comment: str) -> ReviewDecision:
    """Send the content back: the comment is recorded and generation runs again (a new round)."""
    _require_writer(user=user, bootstrap=bootstrap)
    comment = (comment or "").strip()
    if not comment:
        raise ServiceError("Say what should change: a comment is required.", detail={"comment": ["This field is required."]})
    with transaction.atomic():
        bootstrap = DomainBootstrap.objects.select_for_update().get(pk=bootstrap.pk)
        _require_in_review(bootstrap)
        decision = ReviewDecision.objects.create(
            bootstrap=bootstrap, domain_id=bootstrap.domain_id, round=bootstrap.generation_round,
            decision=ReviewDecision.Decision.REQUEST_CHANGES, comment=comment, decided_by=user,
        )
        bootstrap.status = DomainBootstrap.Status.RUNNING
        bootstrap.reviewed_at = timezone.now()
        bootstrap.save(update_fields=["status", "reviewed_at", "updated_at"])
        workflow.set_domain_status(bootstrap, Domain.Status.BOOTSTRAPPING)
        workflow.step_queue(bootstrap.steps.get(step=BootstrapStep.Step.GENERATE), reset_attempts=True)
    return decision


def bootstrap_retry_step(*, user, step: BootstrapStep) -> BootstrapStep:
    """Re-queue a failed step with fresh attempts (the admin's "retry" action)."""
    bootstrap = step.bootstrap
    _require_writer(user=user, bootstrap=bootstrap)
    if step.status != BootstrapStep.Status.FAILED:
        raise Conflict(
            f"Only a failed step can be retried; {step.get_step_display()} is {step.get_status_display().lower()}."
        )
    with transaction.atomic():
        DomainBootstrap.objects.filter(pk=bootstrap.pk).update(status=DomainBootstrap.Status.RUNNING, error="")
        workflow.step_queue(step, reset_attempts=True)
    step.refresh_from_db()
    return step


def content_update(*, user, content: GeneratedContent, title: str | None = None, body: str | None = None) -> GeneratedContent:
    """An editor's change to a generated statement under review; recorded in its history."""
    _require_writer(user=user, bootstrap=content.bootstrap)
    if content.status not in (GeneratedContent.Status.DRAFT, GeneratedContent.Status.IN_REVIEW):
        raise Conflict("Only content under review can be edited.")
    if body is not None and not body.strip():
        raise ServiceError("A statement cannot be empty.", detail={"body": ["This field may not be blank."]})
    if title is not None:
        content.title = title.strip()[:300]
    if body is not None:
        content.body = body.strip()
    content.edited_by = user if getattr(user, "pk", None) else None
    content.edited_at = timezone.now()
    content._change_reason = "edited in review"
    content.save()
    return content


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
