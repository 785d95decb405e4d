"""The admin home: what an editor needs at a glance (unfold's DASHBOARD_CALLBACK).

Every number is scoped to the domains the user can read; superusers see all.
Queue depth is the pipeline's own view of it (steps queued per queue), which needs no
broker round trip and is the same whatever broker runs.
"""

from __future__ import annotations

from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from apps.bootstrap.models import DomainBootstrap, GeneratedContent
from apps.core.admin import LIVE_MEDIA
from apps.core.queues import QUEUES
from apps.core.workflows.models import StepStatus
from apps.core.workflows.registry import workflows
from apps.documents.models import Document, DocumentStatus, ProcessingRun
from apps.domains.access import readable_domains
from apps.domains.models import Domain
from apps.search.models import Entity


def _link(name: str, args, label) -> str:
    try:
        return format_html('<a class="text-primary-600" href="{}">{}</a>', reverse(name, args=args), label)
    except NoReverseMatch:
        return str(label)


def _documents_by_status(domain_ids) -> list[dict]:
    counts = dict(
        Document.objects.filter(domain_id__in=domain_ids).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return [{"status": s.value, "label": s.label, "count": counts.get(s.value, 0)} for s in DocumentStatus]


def _queue_depth(domain_ids) -> list[dict]:
    """Steps queued per queue, from every workflow's own step → queue table."""
    depth = dict.fromkeys(QUEUES, 0)
    for workflow in workflows():
        queued = workflow.model.objects.filter(status=StepStatus.QUEUED, **{f"{workflow.domain_path}__in": domain_ids})
        for step, n in queued.values_list("step").annotate(n=Count("pk")).values_list("step", "n"):
            depth[workflow.step(step).queue] += n
    return [{"queue": q, "count": n} for q, n in depth.items()]


def _recent_activity(domain_ids, limit: int = 10) -> list[list]:
    """Latest editorial changes from the history tables (documents, entities, domains, generated content)."""
    kinds = {"+": "created", "~": "changed", "-": "deleted"}
    rows = []
    sources = [
        (Document.history.filter(domain_id__in=domain_ids), "document", "admin:documents_document_change", "title"),
        (Entity.history.filter(domain_id__in=domain_ids), "entity", "admin:search_entity_change", "name"),
        (Domain.history.filter(id__in=domain_ids), "domain", "admin:domains_domain_change", "name"),
        (GeneratedContent.history.filter(domain_id__in=domain_ids), "content", "admin:bootstrap_generatedcontent_change", "title"),
    ]
    for queryset, kind, url_name, label_field in sources:
        for h in queryset.select_related("history_user").order_by("-history_date")[:limit]:
            label = getattr(h, label_field, "") or getattr(h, "body", "")[:60]
            rows.append((h.history_date, h, kind, url_name, label))
    rows.sort(key=lambda r: r[0], reverse=True)
    activity = []
    for when, h, kind, url_name, label in rows[:limit]:
        link = _link(url_name, [h.id], label) if h.history_type != "-" else label
        who = h.history_user.get_username() if h.history_user else "system"
        activity.append([when.strftime("%Y-%m-%d %H:%M"), who, f"{kinds[h.history_type]} {kind}", link])
    return activity


def dashboard_counts(domain_ids) -> dict:
    """The dashboard's numbers that change while documents run (the live poll sends them again)."""
    runs = ProcessingRun.objects.filter(domain_id__in=domain_ids)
    return {
        "documents": _documents_by_status(domain_ids),
        "runs_in_progress": runs.filter(status__in=[ProcessingRun.Status.QUEUED, ProcessingRun.Status.RUNNING]).count(),
        "runs_failed": runs.filter(status=ProcessingRun.Status.FAILED).count(),
        "bootstraps_running": DomainBootstrap.objects.filter(
            domain_id__in=domain_ids, status=DomainBootstrap.Status.RUNNING).count(),
        "queues": _queue_depth(domain_ids),
    }


def dashboard_live_state(user) -> dict:
    """The live poll's dashboard fields: one value per ``data-live-field`` of the dashboard page."""
    counts = dashboard_counts(list(readable_domains(user).values_list("pk", flat=True)))
    fields = {f"documents:{row['status']}": row["count"] for row in counts["documents"]}
    fields.update({f"queue:{row['queue']}": row["count"] for row in counts["queues"]})
    fields.update(runs_in_progress=counts["runs_in_progress"], runs_failed=f"{counts['runs_failed']} failed")
    return {"active": bool(counts["runs_in_progress"] or counts["bootstraps_running"]), **fields}


def dashboard_callback(request, context: dict) -> dict:
    domain_ids = list(readable_domains(request.user).values_list("pk", flat=True))
    counts = dashboard_counts(domain_ids)
    runs = ProcessingRun.objects.filter(domain_id__in=domain_ids)
    awaiting = DomainBootstrap.objects.filter(domain_id__in=domain_ids, status=DomainBootstrap.Status.IN_REVIEW).select_related("domain")
    bootstrapping = DomainBootstrap.objects.filter(
        domain_id__in=domain_ids, status__in=[DomainBootstrap.Status.RUNNING, DomainBootstrap.Status.FAILED]
    ).select_related("domain")
    failed_runs = runs.filter(status=ProcessingRun.Status.FAILED).select_related("document").order_by("-created_at")[:5]
    context.update({
        "live_media": LIVE_MEDIA,
        "dashboard": {
            **counts,
            "domains": len(domain_ids),
            "review_table": {
                "headers": ["Domain", "Round", "Since"],
                "rows": [[_link("admin:bootstrap_domainbootstrap_change", [b.pk], b.domain.name), b.generation_round,
                          b.updated_at.strftime("%Y-%m-%d %H:%M")] for b in awaiting],
            },
            "bootstrap_table": {
                "headers": ["Domain", "Status", "Step", "Documents"],
                "rows": [[_link("admin:bootstrap_domainbootstrap_change", [b.pk], b.domain.name), b.get_status_display(),
                          b.current_step or "—", f"{b.documents_done + b.documents_failed}/{b.documents_expected}"]
                         for b in bootstrapping],
            },
            # A list, not unfold's table: its fixed-height cells clip a long error in the narrow column.
            "failed_runs": [
                {"url": reverse("admin:documents_document_change", args=[r.document_id]), "title": r.document.title,
                 "error": r.error, "when": r.created_at.strftime("%Y-%m-%d %H:%M")}
                for r in failed_runs
            ],
            "activity_table": {"headers": ["When", "Who", "What", "Object"], "rows": _recent_activity(domain_ids)},
        }
    })
    return context
