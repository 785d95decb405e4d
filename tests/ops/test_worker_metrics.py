"""A real Celery worker process (prefork, multiprocess metrics) runs tasks; its metrics port
is scraped over HTTP and its JSON log lines are read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from apps.core import context
from heysh.celery import QUEUES, app
from tasks.diagnostics import ping
from tests.ops.helpers import free_port, scrape, value, wait_for
from tests.workers import test_database_url

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)


def _start_worker(tmp_path, queues: tuple[str, ...]):
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    log_path = tmp_path / "worker.log"
    with app.connection_for_write() as conn:
        for queue in QUEUES:
            conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            conn.default_channel.queue_purge(queue)
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "HEYSH_EMBEDDER": "hashing",
        "HEYSH_VAR_DIR": str(settings.VAR_DIR),
        "HF_HUB_OFFLINE": "1",
        "HEYSH_METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "HEYSH_LOG_JSON": "1",
        "HEYSH_LOG_LEVEL": "INFO",
    }
    name = f"ops-{uuid.uuid4().hex[:8]}@%h"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "heysh", "worker", "-Q", ",".join(queues), "--pool", "prefork",
             "--concurrency", "2", "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}/metrics", log_path


def _stop(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with app.connection_for_write() as conn:
        for queue in QUEUES:
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def start_worker(tmp_path):
    started = []

    def start(queues: tuple[str, ...] = ("general",)):
        process, url, log_path = _start_worker(tmp_path, queues)
        started.append(process)
        wait_for(lambda: value(scrape(url), "celery_worker_up") == 1, timeout=90,
                 what=f"celery_worker_up 1 (log: {log_path})")
        return process, url, log_path

    try:
        yield start
    finally:
        for process in started:
            _stop(process)


@pytest.fixture
def worker(start_worker):
    return start_worker(("general",))


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

    # The worker logs JSON, and the task's lines carry the request id of the sender. Each line
    # is written as the task runs: read them from the running worker (a warm shutdown on the
    # SQLite broker of a loaded 2-core machine has taken over 90 s; the fixture stops it).
    def logged():
        records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        done = [r for r in records if r.get("message") == "diagnostic ping"]
        failed = any(r.get("levelname") == "ERROR" and "DiagnosticFailure" in json.dumps(r) for r in records)
        return records if len(done) >= 2 and failed else None

    records = wait_for(logged, timeout=60, what=f"the tasks' log lines in {log_path}")
    pings = [r for r in records if r.get("message") == "diagnostic ping"]
    assert len(pings) == 2, log_path.read_text()[-3000:]
    assert {r["request_id"] for r in pings} == {"ops-req-7"}
    assert {r["task_name"] for r in pings} == {"tasks.diagnostics.ping"}
    assert all(r["task_id"] in {ok.id, failing.id} for r in pings)
    failures = [r for r in records if r.get("levelname") == "ERROR" and "DiagnosticFailure" in json.dumps(r)]
    assert failures, "the task failure is logged as JSON too"


def test_a_document_through_a_real_worker_moves_the_pipeline_metrics(start_worker, user, domain):
    """The document pipeline's steps run on the worker; task, step, item and outcome metrics move."""
    from apps.documents.services import document_create

    process, url, log_path = start_worker(QUEUES)
    text = "Ada Lovelace worked with Charles Babbage on the Analytical Engine in London. " * 20
    with context.bound(request_id="ops-doc-1"):
        document, created = document_create(domain=domain, user=user, text=text, title="Engines")
    assert created

    def finished():
        document.refresh_from_db()
        return document.status in ("ready", "failed")

    wait_for(finished, timeout=120, what="the document to finish")
    assert document.status == "ready", f"{document.error}\n{log_path.read_text()[-3000:]}"

    def steps_counted():
        samples = scrape(url)
        done = value(samples, "heysh_documents_finished_total", outcome="ready") == 1
        # Each step's task counter and its step histogram are written by different signal
        # handlers of the same task: wait until every step shows in both.
        stepped = all(
            value(samples, "celery_task_succeeded_total", name=f"tasks.pipeline.{step}") >= 1
            and value(samples, "heysh_step_duration_seconds_count", step=step, outcome="succeeded") >= 1
            for step in ("analyze", "extract", "graph", "index", "notify")
        )
        return samples if done and stepped else None

    samples = wait_for(steps_counted, timeout=60, what="the run's metrics, through the notify step")
    for step in ("analyze", "extract", "graph", "index", "notify"):
        task = f"tasks.pipeline.{step}"
        assert value(samples, "celery_task_succeeded_total", name=task) >= 1, task
        assert value(samples, "heysh_step_duration_seconds_count", step=step, outcome="succeeded") >= 1, step
    assert value(samples, "celery_task_received_total", name="tasks.pipeline.extract", queue="ai") >= 1
    assert value(samples, "celery_task_received_total", name="tasks.pipeline.graph", queue="storage") >= 1
    assert value(samples, "heysh_pipeline_items_written_total", kind="chunks") >= 1
    assert value(samples, "celery_task_failed_total") == 0

    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    step_lines = [r for r in records if r.get("task_name", "-").startswith("tasks.pipeline.")]
    assert step_lines and {r["request_id"] for r in step_lines} == {"ops-doc-1"}


def test_beat_serves_its_heartbeat_and_passes_its_healthcheck(tmp_path):
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "HEYSH_METRICS_PORT": str(port),
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc), "HEYSH_LOG_JSON": "1"}
    log_path = tmp_path / "beat.log"
    started = time.time()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "heysh", "beat", "--loglevel", "INFO", "--pidfile=",
             "--schedule", str(tmp_path / "beat-schedule")],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        samples = wait_for(lambda: scrape(url), timeout=60, what=f"beat metrics (log: {log_path})")
        heartbeat = value(samples, "heysh_beat_last_run_timestamp_seconds")
        assert started - 5 <= heartbeat <= time.time() + 5
        healthcheck = [sys.executable, str(BASE_DIR / "compose/django/healthcheck.py"), "beat", str(port)]
        assert subprocess.run(healthcheck, capture_output=True, timeout=30).returncode == 0
        stale = subprocess.run(healthcheck, capture_output=True, timeout=30, env={**os.environ, "HEYSH_BEAT_STALE_SECONDS": "-1"})
        assert stale.returncode != 0, "a heartbeat older than the limit must fail the healthcheck"
        assert process.poll() is None
    finally:
        _stop(process)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line["name"].startswith("celery") for line in lines), "beat's own lines are JSON too"
