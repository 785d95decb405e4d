"""Real Celery worker processes for the bootstrap workflow tests (the shared ``tests.workers`` pool).

Leases are short so a killed worker's step is recovered within seconds.
"""

from __future__ import annotations

import pytest

from tests.workers import celery_workers, wait_until  # noqa: F401

LEASE_SECONDS = 6


@pytest.fixture
def start_worker(celery_workers):  # noqa: F811
    """Start a worker on all queues; every one started is killed at teardown (its log printed on failure)."""
    started = []

    def start(**extra_env):
        worker = celery_workers.start(concurrency=2, HEYSH_STEP_LEASE_SECONDS=LEASE_SECONDS, HEYSH_STEP_BACKOFF_SECONDS=1,
                                      **extra_env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        print(f"--- {worker.log_path.name} ---\n{worker.log()[-6000:]}")
