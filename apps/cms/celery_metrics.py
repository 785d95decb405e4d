"""Celery signal handlers: task metrics, request-id propagation, worker/beat metrics
servers and Celery's logging. Connected when ``heysh.celery`` imports this module.

- ``before_task_publish`` (in whichever process sends: API, worker, beat) counts the
  send, stamps ``heysh_sent_at`` for the queue-wait histogram and copies the current
  request id / user id into the message headers.
- ``task_received`` runs in the worker's main process; ``task_prerun`` /
  ``task_postrun`` / ``task_success`` / ``task_failure`` / ``task_retry`` in the
  process that runs the task. ``task_prerun`` binds the request id for the task's logs.
- ``worker_init`` starts the metrics HTTP server in the worker's main process (before
  the prefork pool forks), ``worker_ready`` / ``worker_shutdown`` flip
  ``celery_worker_up``; ``worker_process_shutdown`` marks a pool child dead for the
  multiprocess collector; ``beat_init`` starts beat's server, and every message beat
  publishes moves ``heysh_beat_last_run_timestamp_seconds``.
"""

from __future__ import annotations

import logging
import logging.config
import os
import time

from celery import signals
from django.conf import settings
from prometheus_client import multiprocess

from apps.cms.exporter import beat_heartbeat, multiprocess_dir, queue_for_task, start_metrics_server
from apps.core import context, metrics
from apps.core.logging import current_user_id

logger = logging.getLogger(__name__)

SENT_AT_HEADER = "heysh_sent_at"
REQUEST_ID_HEADER = "heysh_request_id"
USER_ID_HEADER = "heysh_user_id"

_in_beat = False
_started: dict[str, float] = {}
_bound: dict[str, object] = {}


def _queue_of(task_name: str, delivery_info: dict | None = None) -> str:
    routing_key = (delivery_info or {}).get("routing_key")
    if routing_key:
        return routing_key

    return queue_for_task(task_name)


def _header(request, name: str):
    """A custom message header as the task sees it (merged into the request, or under .headers)."""
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


@signals.before_task_publish.connect(dispatch_uid="heysh.before_task_publish")
def on_before_task_publish(sender=None, headers=None, routing_key=None, **kwargs):
    task_name = sender or (headers or {}).get("task", "unknown")
    metrics.celery_task_sent_total.labels(task_name, routing_key or _queue_of(task_name)).inc()
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())
        request_id = context.request_id.get()
        if request_id != "-":
            headers.setdefault(REQUEST_ID_HEADER, request_id)
        user_id = context.user_id.get()
        if user_id == "-":
            user_id = current_user_id() or "-"
        if user_id != "-":
            headers.setdefault(USER_ID_HEADER, user_id)
    if _in_beat:
        beat_heartbeat()


@signals.task_received.connect(dispatch_uid="heysh.task_received")
def on_task_received(request=None, **kwargs):
    if request is None:
        return
    metrics.celery_task_received_total.labels(request.task_name, _queue_of(request.task_name, request.delivery_info)).inc()


@signals.task_prerun.connect(dispatch_uid="heysh.task_prerun")
def on_task_prerun(task_id=None, task=None, **kwargs):
    if task is None:
        return
    request = task.request
    queue = _queue_of(task.name, getattr(request, "delivery_info", None))
    now = time.time()
    _started[task_id] = time.perf_counter()
    metrics.celery_task_started_total.labels(task.name, queue).inc()
    sent_at = _header(request, SENT_AT_HEADER)
    if sent_at is not None:
        try:
            metrics.celery_task_queue_wait_seconds.labels(task.name, queue).observe(max(0.0, now - float(sent_at)))
        except (TypeError, ValueError):
            pass
    values = {"request_id": _header(request, REQUEST_ID_HEADER), "user_id": _header(request, USER_ID_HEADER)}
    tokens = [(context.FIELDS[name], context.FIELDS[name].set(str(value))) for name, value in values.items() if value]
    if tokens:
        _bound[task_id] = tokens


@signals.task_postrun.connect(dispatch_uid="heysh.task_postrun")
def on_task_postrun(task_id=None, task=None, **kwargs):
    started = _started.pop(task_id, None)
    if task is not None and started is not None:
        queue = _queue_of(task.name, getattr(task.request, "delivery_info", None))
        metrics.celery_task_runtime_seconds.labels(task.name, queue).observe(time.perf_counter() - started)
    for var, token in reversed(_bound.pop(task_id, [])):
        try:
            var.reset(token)
        except ValueError:  # set in another context (eager runs nested in a request): clear instead
            var.set("-")


@signals.task_success.connect(dispatch_uid="heysh.task_success")
def on_task_success(sender=None, **kwargs):
    if sender is not None:
        metrics.celery_task_succeeded_total.labels(sender.name, _queue_of(sender.name, getattr(sender.request, "delivery_info", None))).inc()


@signals.task_failure.connect(dispatch_uid="heysh.task_failure")
def on_task_failure(sender=None, exception=None, **kwargs):
    if sender is not None:
        queue = _queue_of(sender.name, getattr(sender.request, "delivery_info", None))
        metrics.celery_task_failed_total.labels(sender.name, queue, type(exception).__name__).inc()


@signals.task_retry.connect(dispatch_uid="heysh.task_retry")
def on_task_retry(sender=None, request=None, **kwargs):
    if sender is not None:
        metrics.celery_task_retried_total.labels(sender.name, _queue_of(sender.name, getattr(request, "delivery_info", None))).inc()


@signals.worker_init.connect(dispatch_uid="heysh.worker_init")
def on_worker_init(**kwargs):
    start_metrics_server()


@signals.worker_ready.connect(dispatch_uid="heysh.worker_ready")
def on_worker_ready(sender=None, **kwargs):
    metrics.celery_worker_up.labels(_hostname(sender)).set(1)


@signals.worker_shutdown.connect(dispatch_uid="heysh.worker_shutdown")
def on_worker_shutdown(sender=None, **kwargs):
    metrics.celery_worker_up.labels(_hostname(sender)).set(0)


@signals.worker_process_shutdown.connect(dispatch_uid="heysh.worker_process_shutdown")
def on_worker_process_shutdown(pid=None, **kwargs):
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid or os.getpid())


@signals.beat_init.connect(dispatch_uid="heysh.beat_init")
def on_beat_init(**kwargs):
    global _in_beat

    _in_beat = True
    start_metrics_server()
    beat_heartbeat()


@signals.setup_logging.connect(dispatch_uid="heysh.setup_logging")
def on_setup_logging(**kwargs):
    """Celery keeps its hands off logging: workers and beat log with Django's LOGGING (JSON)."""
    logging.config.dictConfig(settings.LOGGING)


def _hostname(sender) -> str:
    return getattr(sender, "hostname", None) or os.environ.get("HOSTNAME") or "unknown"
