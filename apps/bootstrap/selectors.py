"""Reads of the bootstrap workflow, scoped through ``apps.domains.access``."""

from __future__ import annotations

from django.http import Http404

from apps.bootstrap.models import BootstrapStep, DomainBootstrap, GeneratedContent
from apps.domains.access import readable_domains


def bootstrap_get(*, user, slug: str) -> DomainBootstrap:
    bootstrap = (
        DomainBootstrap.objects.filter(domain__in=readable_domains(user), domain__slug=slug)
        .select_related("domain", "created_by").first()
    )
    if bootstrap is None:
        raise Http404("No bootstrap for such a domain.")
    return bootstrap


def bootstrap_list(*, user):
    return DomainBootstrap.objects.filter(domain__in=readable_domains(user)).select_related("domain").order_by("-created_at")


def content_rows(contents) -> dict:
    sections: dict[str, list] = {"overview": [], "key_entities": [], "faq": []}
    for c in contents:
        row = {"id": c.pk, "text": c.body, "citations": c.citations, "edited": c.edited_by_id is not None}
        if c.section == GeneratedContent.Section.OVERVIEW:
            sections["overview"].append(row)
        elif c.section == GeneratedContent.Section.ENTITY:
            sections["key_entities"].append({**row, "name": c.title, "entity_id": c.entity_id})
        else:
            sections["faq"].append({**row, "question": c.title, "answer": c.body})
    return sections


def bootstrap_progress(*, bootstrap: DomainBootstrap) -> dict:
    """Everything the API and the admin show about a bootstrap: steps, sources, content, decisions."""
    steps = [
        {"step": s.step, "status": s.status, "attempt": s.attempt, "error": s.error, "output": s.output,
         "queued_at": s.queued_at, "started_at": s.started_at, "finished_at": s.finished_at}
        for s in bootstrap.steps.order_by("ordinal")
    ]
    candidates = [
        {"id": c.pk, "kind": c.kind, "title": c.title, "url": c.url, "reason": c.reason, "score": c.score,
         "chosen": c.chosen, "document_id": c.document_id, "source_document_id": c.source_document_id,
         "outcome": c.outcome, "error": c.error}
        for c in bootstrap.candidates.all()
    ]
    contents = GeneratedContent.objects.filter(bootstrap=bootstrap, round=bootstrap.generation_round).order_by(
        "section", "ordinal"
    )
    decisions = [
        {"decision": d.decision, "comment": d.comment, "round": d.round,
         "decided_by": d.decided_by.get_username() if d.decided_by else None, "created_at": d.created_at}
        for d in bootstrap.decisions.select_related("decided_by")
    ]
    return {
        "domain": bootstrap.domain.slug,
        "domain_status": bootstrap.domain.status,
        "status": bootstrap.status,
        "current_step": bootstrap.current_step,
        "error": bootstrap.error,
        "topic_keywords": bootstrap.topic_keywords,
        "documents": {"expected": bootstrap.documents_expected, "done": bootstrap.documents_done,
                      "failed": bootstrap.documents_failed},
        "round": bootstrap.generation_round,
        "steps": steps,
        "candidates": candidates,
        "content": content_rows(contents),
        "decisions": decisions,
        "created_at": bootstrap.created_at,
        "activated_at": bootstrap.activated_at,
    }


def overview_published(*, user, slug: str) -> dict:
    """The approved content of an active domain (GET /domains/{slug}/overview/)."""
    bootstrap = bootstrap_get(user=user, slug=slug)
    contents = GeneratedContent.objects.filter(
        bootstrap=bootstrap, round=bootstrap.generation_round, status=GeneratedContent.Status.APPROVED
    ).order_by("section", "ordinal")
    if bootstrap.status != DomainBootstrap.Status.ACTIVE or not contents.exists():
        raise Http404("This domain has no published overview yet.")
    return {"domain": bootstrap.domain.slug, "name": bootstrap.domain.name, "published_at": bootstrap.activated_at,
            "round": bootstrap.generation_round, **content_rows(contents)}


def bootstraps_with_steps(*, user, ids: list[int]) -> list[tuple[DomainBootstrap, list[BootstrapStep]]]:
    """Readable bootstraps among ``ids`` with their steps in order (a live progress display), two queries."""
    bootstraps = list(DomainBootstrap.objects.filter(pk__in=ids, domain__in=readable_domains(user)))
    steps: dict[int, list[BootstrapStep]] = {}
    for step in BootstrapStep.objects.filter(bootstrap__in=bootstraps).order_by("bootstrap_id", "ordinal"):
        steps.setdefault(step.bootstrap_id, []).append(step)
    return [(b, steps.get(b.pk, [])) for b in bootstraps]
