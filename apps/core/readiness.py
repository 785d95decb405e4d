"""Component checks shared by /ready and the system checks."""

from __future__ import annotations

import time
import uuid

from celery import current_app
from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection

from apps.core.backends import HANDLERS

# Checks of derived data (the embedded search indexes) registered by the apps that own it.
# They are reported, but a failing one does not make the process unready: search answers
# degraded, and rebuild_projections or the beat reconcile repairs the index.
_degradable_checks: dict[str, object] = {}


def degradable_check_register(name: str, check) -> None:
    """``check()`` returns a detail string or raises; registered once per name (app ready())."""
    _degradable_checks[name] = check


def _timed(fn) -> dict:
    started = time.perf_counter()
    try:
        detail = fn() or ""
        ok = True
    except Exception as exc:  # a readiness probe reports, it never raises
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    return {"ok": ok, "detail": str(detail), "ms": round((time.perf_counter() - started) * 1000, 1)}


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def check_cache() -> str:
    key = f"ready:{uuid.uuid4().hex}"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("value written was not read back")
    cache.delete(key)
    return type(caches["default"]).__name__


def check_broker() -> str:
    app = current_app

    # The URL comes from settings at call time (not the Celery app's cached config),
    # so the probe follows what this process is configured with right now.
    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=2)
        return conn.transport.driver_name


def _backend_check(handler, alias):
    def run():
        status = handler[alias].health()
        if not status.ok:
            raise RuntimeError(status.detail)
        return status.detail

    return run


def check_components() -> dict[str, dict]:
    components = {
        "database": _timed(check_database),
        "cache": _timed(check_cache),
        "broker": _timed(check_broker),
    }
    for name, handler in HANDLERS.items():
        if name == "EMBEDDERS":
            continue  # loading a model is not a readiness probe; the worker loads it
        for alias in handler.settings:
            if alias != "default":
                continue
            components[f"{name.lower()}.{alias}"] = _timed(_backend_check(handler, alias))
    for name, check in _degradable_checks.items():
        components[name] = {**_timed(check), "degrades": True}
    return components
