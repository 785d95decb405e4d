"""Admin pages beyond model forms: a domain's search preview and the knowledge-graph views.

Both are scoped like everything else: a domain or entity the editor cannot read is a 404.
The graph pages are a static shell; the browser fetches the graph API with the admin
session and draws it with cytoscape (vendored in the bootstrap app's static files).
"""

from __future__ import annotations

from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core.exceptions import ServiceError
from apps.domains.access import readable_domains
from apps.search.models import Entity, RelationType
from apps.search.services.search import search_run

CYTOSCAPE = "cms/vendor/cytoscape-3.34.4/cytoscape.min.js"
MODES = ("hybrid", "vector", "keyword")


def _domain(request, slug: str):
    domain = readable_domains(request.user).filter(slug=slug).first()
    if domain is None:
        raise Http404("No such domain.")
    return domain


def domain_search(request, model_admin=None):
    """The sidebar's Search: pick a domain (the first readable one is preselected)."""
    slug = request.GET.get("domain") or readable_domains(request.user).order_by("name").values_list("slug", flat=True).first()
    if slug is None:
        context = {**model_admin.admin_site.each_context(request), "title": "Search", "domain": None, "domains": [],
                   "query": "", "mode": "hybrid", "modes": MODES, "response": None, "error": "You belong to no domain yet."}
        return TemplateResponse(request, "cms/search_preview.html", context)
    url = reverse("admin:domain-search-preview", args=[_domain(request, slug).slug])
    query = request.GET.urlencode() if request.GET.get("q") else ""
    return HttpResponseRedirect(f"{url}?{query}" if query else url)


def search_preview(request, slug: str, model_admin=None):
    domain = _domain(request, slug)
    query = request.GET.get("q", "").strip()
    mode = request.GET.get("mode", "hybrid")
    response, error = None, ""
    if query:
        try:
            response = search_run(user=request.user, query=query, domains=[domain.slug], mode=mode if mode in MODES else "hybrid",
                                  k=10, expand=True)
        except ServiceError as exc:
            error = exc.message
    context = {
        **model_admin.admin_site.each_context(request), "title": f"Search preview · {domain.name}", "domain": domain,
        "query": query, "mode": mode, "modes": MODES, "response": response, "error": error,
        "graph_url": reverse("admin:domain-graph", args=[domain.slug]),
        "domains": readable_domains(request.user).order_by("name").only("slug", "name"),
        "workspace_url": reverse("admin:domain-workspace", args=[domain.slug]),
    }
    return TemplateResponse(request, "cms/search_preview.html", context)


def domain_graph(request, slug: str, model_admin=None):
    domain = _domain(request, slug)
    context = {
        **model_admin.admin_site.each_context(request), "title": f"Knowledge graph · {domain.name}", "domain": domain,
        "cytoscape": CYTOSCAPE, "entities_api": reverse("v1:entity-list") + f"?domain={domain.slug}&limit=15",
        "relation_types": RelationType.choices,
        "search_url": reverse("admin:domain-search-preview", args=[domain.slug]),
    }
    return TemplateResponse(request, "cms/graph.html", context)


def entity_graph(request, entity_id: int, model_admin=None):

    entity = Entity.objects.filter(pk=entity_id, domain__in=readable_domains(request.user)).select_related("domain").first()
    if entity is None:
        raise Http404("No such entity.")
    context = {
        **model_admin.admin_site.each_context(request), "title": f"Neighbourhood of {entity.name}", "domain": entity.domain,
        "entity": entity, "cytoscape": CYTOSCAPE, "relation_types": RelationType.choices,
        "search_url": reverse("admin:domain-search-preview", args=[entity.domain.slug]),
    }
    return TemplateResponse(request, "cms/graph.html", context)
