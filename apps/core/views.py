"""Liveness and readiness. /ready checks every component the process depends on."""

from __future__ import annotations

import time

from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from apps.core.readiness import check_components


@never_cache
def health(request):
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    started = time.perf_counter()
    components = check_components()
    ok = all(c["ok"] for c in components.values() if not c.get("degrades"))
    degraded = sorted(name for name, c in components.items() if c.get("degrades") and not c["ok"])
    return JsonResponse(
        {
            "status": "ok" if ok else "unavailable",
            "components": components,
            "degraded": degraded,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
        status=200 if ok else 503,
    )
