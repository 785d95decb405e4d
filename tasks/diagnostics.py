"""Operational probes: a task that goes through the broker and a worker like any other.

``tasks.diagnostics.ping`` answers with what the worker saw (request id, hostname), so
ops can check routing, logging and metrics end to end:
``celery -A heysh call tasks.diagnostics.ping``. ``fail=True`` raises on purpose to
exercise the failure counters and alerts.
"""

from __future__ import annotations

import logging
import socket

from apps.core import context
from apps.core.secrets import vault_token_renew as renew
from heysh.celery import app

logger = logging.getLogger(__name__)


class DiagnosticFailure(RuntimeError):
    """Raised by ping(fail=True)."""


@app.task(name="tasks.diagnostics.ping")
def ping(fail: bool = False) -> dict:
    logger.info("diagnostic ping")
    if fail:
        raise DiagnosticFailure("diagnostic failure requested")
    return {"request_id": context.request_id.get(), "user_id": context.user_id.get(), "hostname": socket.gethostname()}


@app.task(name="tasks.diagnostics.vault_token_renew", queue="general")
def vault_token_renew() -> dict:
    """Hourly (beat): keep the app's periodic Vault token alive (a no-op without Vault)."""
    return renew()
