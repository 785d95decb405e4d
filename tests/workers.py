"""Real Celery worker processes for tests, reusable by any area.

    from tests.workers import celery_workers  # noqa: F401  (in a conftest.py)

    def test_x(celery_workers):
        worker = celery_workers.start(HEYSH_STEP_LEASE_SECONDS=5)
        ...

Workers run ``python -m celery -A heysh worker`` (prefork) on all three queues against
the pytest-django TEST database (so tests using them need ``transaction=True``: rows
must be committed to be seen), this run's broker (Redis, or on the embedded default the
SQLite file broker in the var dir), the hashing embedder and this run's var dir. The fixture purges the queues before and after, and SIGKILLs every process
group it started at teardown, whatever happened.
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


def test_database_url() -> str:
    """The database this test process uses (the pytest-django test database; on SQLite a file
    under the run's var dir, see tests/conftest.py, so other processes can open it)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False  # not a test, despite the name


def wait_until(predicate, *, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of one process, in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Worker:
    def __init__(self, process: subprocess.Popen, log_path: Path, name: str):
        self.process, self.log_path, self.name = process, log_path, name

    @property
    def pid(self) -> int:
        return self.process.pid

    def pool_pids(self) -> list[int]:
        """The prefork pool's child processes (the ones executing tasks)."""
        return _children(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

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
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def purge_queues() -> None:
    with app.connection_for_write() as conn:
        for queue in QUEUES:
            conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            conn.default_channel.queue_purge(queue)


class WorkerPool:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[Worker] = []

    def start(self, *, queues=QUEUES, concurrency: int = 1, settings_module: str = "heysh.settings", **extra_env) -> Worker:
        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        log_path = self.log_dir / f"worker-{len(self.started)}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": settings.REDIS_URL or "",
            "HEYSH_EMBEDDER": "hashing",
            "HEYSH_EXTRACTOR": "rules",  # as in-process tests (tests/conftest.py)
            "HEYSH_VAR_DIR": str(settings.VAR_DIR),
            "HF_HUB_OFFLINE": "1",
            "HEYSH_LOG_LEVEL": "INFO",
            **{key: str(value) for key, value in extra_env.items()},
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "heysh", "worker", "-Q", ",".join(queues), "--pool", "prefork",
                 "--concurrency", str(concurrency), "-n", name, "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "--loglevel", "INFO"],
                cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        worker = Worker(process, log_path, name)
        self.started.append(worker)
        wait_until(lambda: "ready." in worker.log() or process.poll() is not None, timeout=90, what="worker ready")
        assert process.poll() is None, f"worker exited at start:\n{worker.log()[-3000:]}"
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@pytest.fixture
def celery_workers(tmp_path, transactional_db):
    """Start real worker processes with ``celery_workers.start(**env)``; all are killed at teardown."""
    purge_queues()
    pool = WorkerPool(tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
        purge_queues()
