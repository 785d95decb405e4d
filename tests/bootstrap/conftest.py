"""Real Celery worker processes for the bootstrap workflow tests.

The workers run ``celery -A heysh worker`` on all three queues against the pytest-django
test database (hence ``transaction=True`` tests: the rows must be committed to be seen),
this run's Redis, the hashing embedder and this run's var dir. Leases are short so a
killed worker's step is recovered within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from heysh.celery import QUEUES, app

BASE_DIR = Path(settings.BASE_DIR)
LEASE_SECONDS = 6


def database_url() -> str:
    """The test database this process uses, so the workers see the same rows."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def wait_until(predicate, *, timeout: float, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Worker:
    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process, self.log_path = process, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: a crash, not a shutdown."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def purge_queues() -> None:
    with app.connection_for_write() as conn:
        for queue in QUEUES:
            conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def start_worker(tmp_path, transactional_db):
    """Start real worker processes; every one started is killed at teardown."""
    started: list[Worker] = []
    purge_queues()

    def start(**extra_env) -> Worker:
        log_path = tmp_path / f"worker-{len(started)}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "HEYSH_EMBEDDER": "hashing",
            "HF_HUB_OFFLINE": "1",
            "HEYSH_STEP_LEASE_SECONDS": str(LEASE_SECONDS),
            "HEYSH_STEP_BACKOFF_SECONDS": "1",
            "HEYSH_LOG_LEVEL": "INFO",
            **{k: str(v) for k, v in extra_env.items()},
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        name = f"bootstrap-{uuid.uuid4().hex[:8]}@%h"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "heysh", "worker", "-Q", ",".join(QUEUES), "--pool", "prefork",
                 "--concurrency", "2", "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "--loglevel", "INFO"],
                cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        worker = Worker(process, log_path)
        started.append(worker)
        wait_until(lambda: "ready." in worker.log() or process.poll() is not None, timeout=90, what="worker ready")
        assert process.poll() is None, f"worker exited at start:\n{worker.log()[-3000:]}"
        return worker

    yield start
    for worker in started:
        worker.stop()
        # Shown by pytest when the test failed.
        print(f"--- {worker.log_path.name} ---\n{worker.log()[-6000:]}")
    purge_queues()
