"""The site root and the favicon (the admin is the CMS, so both lead there); the admin pages' live progress."""

from __future__ import annotations

from django.http import HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.bootstrap.admin import bootstrap_live_state
from apps.bootstrap.selectors import bootstraps_with_steps
from apps.cms.dashboard import dashboard_live_state
from apps.documents.admin import document_live_state
from apps.documents.selectors import documents_progress


def site_root(request):
    return HttpResponseRedirect(reverse("admin:index"))


def favicon(request):
    # Resolved per request: with hashed static names (production) the file name is known only after collectstatic.
    return HttpResponseRedirect(static("cms/favicon.svg"))


def _ids(raw: str | None, limit: int = 200) -> list[int]:
    return [int(part) for part in (raw or "").split(",") if part.strip().isdigit()][:limit]


@never_cache
@require_GET
def live_progress(request):
    """Progress of what an admin page shows, for ``cms/live.js`` (staff only, scoped to readable domains).

    ``?documents=1,2`` (``&timeline=1`` adds each document's run timeline), ``?bootstraps=3``,
    ``?dashboard=1``. ``active`` says whether anything asked about is still running: the page
    polls again while it is true and stops when it is false. Unreadable ids are left out.
    """
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return JsonResponse({"error": {"code": "permission_denied", "message": "Staff only."}}, status=403)
    timeline = request.GET.get("timeline") == "1"
    documents = {
        str(item.document.pk): document_live_state(item, timeline=timeline)
        for item in documents_progress(user=user, ids=_ids(request.GET.get("documents")))
    }
    bootstraps = {
        str(bootstrap.pk): bootstrap_live_state(bootstrap, steps)
        for bootstrap, steps in bootstraps_with_steps(user=user, ids=_ids(request.GET.get("bootstraps")))
    }
    payload = {"documents": documents, "bootstraps": bootstraps}
    if request.GET.get("dashboard") == "1":
        payload["dashboard"] = dashboard_live_state(user)
    parts = [*documents.values(), *bootstraps.values(), payload.get("dashboard", {})]
    payload["active"] = any(part.get("active") for part in parts)
    return JsonResponse(payload)
