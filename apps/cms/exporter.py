"""What Prometheus scrapes: the API's /metrics view and the workers' metrics port.

Scheme (docs/operations.md has the full catalogue):

- **API** (gunicorn): ``GET /metrics`` serves django-prometheus and every metric of
  ``apps.core.metrics`` recorded by any gunicorn worker (``PROMETHEUS_MULTIPROC_DIR``
  + MultiProcessCollector; gunicorn's ``child_exit`` hook marks dead workers), plus
  the *platform collector* of ``apps.cms.platform_metrics``: values computed from the
  database, the broker and the readiness checks at scrape time (documents by status per
  domain, queue depth and oldest queued step per queue, stuck steps, component up).
- **Workers and beat**: each process tree serves its own counters on
  ``HEYSH_METRICS_PORT`` (prefork children write to the shared multiprocess
  directory; the main process serves the aggregate).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import lru_cache

from celery import current_app
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.registry import Collector

from apps.core import metrics

logger = logging.getLogger(__name__)

def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


@lru_cache(maxsize=64)
def queue_for_task(task_name: str) -> str:
    """The queue ``task_name`` is sent to: the task's own (workflow steps), else the router's."""
    app = current_app
    queue = getattr(app.tasks.get(task_name), "queue", None)
    if queue:
        return queue
    route = app.amqp.router.route({}, task_name)
    queue = route.get("queue")
    return getattr(queue, "name", None) or str(queue or app.conf.task_default_queue)


class Without(Collector):
    """Another collector's families minus the names the platform collector owns (no duplicates)."""

    def __init__(self, source, names: frozenset[str]):
        self.source = source
        self.names = names

    def collect(self):
        for family in self.source.collect():
            if family.name not in self.names:
                yield family


def process_registry() -> CollectorRegistry:
    """This process's metrics, aggregated over every process when multiprocess mode is on."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


_server_lock = threading.Lock()
_server_port: int | None = None


def start_metrics_server(port: int | None = None) -> int | None:
    """Serve this process tree's metrics on ``HEYSH_METRICS_PORT`` (once per process)."""
    global _server_port
    if port is None:
        raw = os.environ.get("HEYSH_METRICS_PORT", "").strip()
        if not raw:
            return None
        port = int(raw)
    with _server_lock:
        if _server_port is not None:
            return _server_port
        start_http_server(port, registry=process_registry())
        _server_port = port
    logger.info("metrics served on port %s (multiprocess=%s)", port, bool(multiprocess_dir()))
    return port


def beat_heartbeat() -> None:
    metrics.heysh_beat_last_run_timestamp_seconds.set(time.time())
