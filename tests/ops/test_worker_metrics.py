"""A real Celery worker process (prefork, multiprocess metrics) runs tasks; its metrics port
is scraped over HTTP and its JSON log lines are read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.core import context
from heysh.celery import app
from tasks.diagnostics import ping
from tests.ops.helpers import free_port, scrape, value, wait_for

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)


def _database_url() -> str:
    """The test database this process uses, so the worker sees the same rows."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(tmp_path):
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    log_path = tmp_path / "worker.log"
    with app.connection_for_write() as conn:
        conn.default_channel.queue_declare(queue="general", durable=True, auto_delete=False)
        conn.default_channel.queue_purge("general")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "HEYSH_METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "HEYSH_LOG_JSON": "1",
        "HEYSH_LOG_LEVEL": "INFO",
    }
    name = f"ops-{uuid.uuid4().hex[:8]}@%h"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "heysh", "worker", "-Q", "general", "--pool", "prefork",
             "--concurrency", "2", "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_for(lambda: value(scrape(url), "celery_worker_up") == 1, timeout=90, what="celery_worker_up 1")
        yield process, url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_real_worker_counts_tasks_and_serves_them_on_its_metrics_port(worker):
    process, url, log_path = worker
    before = scrape(url)
    assert value(before, "celery_task_succeeded_total", name="tasks.diagnostics.ping") == 0

    with context.bound(request_id="ops-req-7"):
        ok = ping.apply_async()
        failing = ping.apply_async(kwargs={"fail": True})
    assert ok.id and failing.id

    def moved():
        samples = scrape(url)
        done = value(samples, "celery_task_succeeded_total", name="tasks.diagnostics.ping", queue="general") == 1
        failed = value(samples, "celery_task_failed_total", name="tasks.diagnostics.ping", exception="DiagnosticFailure") == 1
        return samples if done and failed else None

    samples = wait_for(moved, timeout=60, what="succeeded and failed counters")
    # received counts in the worker's main process, started/runtime in the pool children:
    # both are in the aggregate the main process serves.
    assert value(samples, "celery_task_received_total", name="tasks.diagnostics.ping", queue="general") == 2
    assert value(samples, "celery_task_started_total", name="tasks.diagnostics.ping", queue="general") == 2
    assert value(samples, "celery_task_runtime_seconds_count", name="tasks.diagnostics.ping", queue="general") == 2
    assert value(samples, "celery_task_queue_wait_seconds_count", name="tasks.diagnostics.ping", queue="general") == 2
    assert value(samples, "celery_task_queue_wait_seconds_sum", name="tasks.diagnostics.ping") < 60
    assert process.poll() is None, "the failing task must not take the worker down"

    # The container healthcheck reads the same port.
    port = url.split(":")[-1].split("/")[0]
    healthcheck = [sys.executable, str(BASE_DIR / "compose/django/healthcheck.py"), "worker", port]
    assert subprocess.run(healthcheck, capture_output=True, timeout=30).returncode == 0
    assert subprocess.run([*healthcheck[:-1], str(free_port())], capture_output=True, timeout=30).returncode != 0

    # The worker logs JSON, and the task's lines carry the request id of the sender.
    process.terminate()
    process.wait(timeout=30)
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    pings = [r for r in records if r.get("message") == "diagnostic ping"]
    assert len(pings) == 2, log_path.read_text()[-3000:]
    assert {r["request_id"] for r in pings} == {"ops-req-7"}
    assert {r["task_name"] for r in pings} == {"tasks.diagnostics.ping"}
    assert all(r["task_id"] in {ok.id, failing.id} for r in pings)
    failures = [r for r in records if r.get("levelname") == "ERROR" and "DiagnosticFailure" in json.dumps(r)]
    assert failures, "the task failure is logged as JSON too"
