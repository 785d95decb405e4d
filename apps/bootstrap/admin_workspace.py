"""A domain's workspace in the admin: one page linking everything an editor does with the domain.

Documents, upload, search, graph, bootstrap/review, entities, members and API keys, with
the counts that say where the domain stands. Reached from the sidebar ("Domain
workspaces") and the domain list; a domain the user cannot read is a 404.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.bootstrap.models import DomainBootstrap
from apps.documents.models import Document, DocumentStatus
from apps.domains.access import readable_domains
from apps.domains.models import ApiKey, Membership
from apps.search.models import Entity


def _filtered(url_name: str, domain_pk: int) -> str:
    return f"{reverse(url_name)}?domain__id__exact={domain_pk}"


def workspace_index(request, model_admin=None):
    domains = (
        readable_domains(request.user)
        .order_by("name")
        .annotate(
            document_count=Count("documents", distinct=True),
            ready_count=Count("documents", filter=Q(documents__status=DocumentStatus.READY), distinct=True),
        )
    )
    rows = [{"domain": d, "url": reverse("admin:domain-workspace", args=[d.slug])} for d in domains]
    context = {**model_admin.admin_site.each_context(request), "title": "Domain workspaces", "rows": rows}
    return TemplateResponse(request, "cms/workspace_index.html", context)


def domain_workspace(request, slug: str, model_admin=None):
    domain = readable_domains(request.user).filter(slug=slug).first()
    if domain is None:
        raise Http404("No such domain.")
    counts = dict(Document.objects.filter(domain=domain).values_list("status").annotate(n=Count("pk")))
    bootstrap = DomainBootstrap.objects.filter(domain=domain).first()
    links = [
        (
            "Documents",
            "description",
            _filtered("admin:documents_document_changelist", domain.pk),
            f"{sum(counts.values())} · {counts.get(DocumentStatus.READY, 0)} ready",
        ),
        (
            "Upload",
            "upload_file",
            f"{reverse('admin:documents_document_add')}?domain={domain.pk}",
            "files, text or a URL",
        ),
        ("Search", "search", reverse("admin:domain-search-preview", args=[domain.slug]), "hybrid, vector or keyword"),
        (
            "Graph",
            "hub",
            reverse("admin:domain-graph", args=[domain.slug]),
            f"{Entity.objects.filter(domain=domain, merged_into__isnull=True).count()} entities",
        ),
        ("Entities", "category", _filtered("admin:search_entity_changelist", domain.pk), "rename, merge, undo"),
        (
            "Bootstrap and review",
            "rocket_launch",
            reverse("admin:bootstrap_domainbootstrap_change", args=[bootstrap.pk]) if bootstrap else "",
            bootstrap.get_status_display() if bootstrap else "not bootstrapped",
        ),
        (
            "Members",
            "group",
            _filtered("admin:domains_membership_changelist", domain.pk),
            f"{Membership.objects.filter(domain=domain).count()} members",
        ),
        (
            "API keys",
            "key",
            _filtered("admin:domains_apikey_changelist", domain.pk),
            f"{ApiKey.objects.filter(domain=domain, revoked_at__isnull=True).count()} active",
        ),
        (
            "Settings",
            "settings",
            reverse("admin:domains_domain_change", args=[domain.pk]),
            "name, description, webhook",
        ),
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": domain.name,
        "domain": domain,
        "links": [{"title": t, "icon": i, "url": u, "detail": d} for t, i, u, d in links],
        "documents": [{"label": s.label, "status": s.value, "count": counts.get(s.value, 0)} for s in DocumentStatus],
    }
    return TemplateResponse(request, "cms/workspace.html", context)
