"""The api under real gunicorn with several workers: /metrics aggregates every worker's
samples (PROMETHEUS_MULTIPROC_DIR), also after a worker died and was replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.ops.helpers import free_port, scrape, value, wait_for
from tests.workers import test_database_url

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def _worker_pids(master: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True)
    return {int(pid) for pid in out.stdout.split()}


def test_gunicorn_metrics_are_aggregated_over_workers(tmp_path):
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "HEYSH_API_PORT": str(port),
        "HEYSH_API_WORKERS": "3",
        "HEYSH_API_THREADS": "1",
    }
    log = open(tmp_path / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "heysh.wsgi:application", "--config", str(ROOT / "compose/django/gunicorn.conf.py")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{base}/health") == 200, timeout=60, what="gunicorn /health")
        wait_for(lambda: len(_worker_pids(process.pid)) == 3, timeout=30, what="3 gunicorn workers")

        def health_count() -> float:
            return value(scrape(f"{base}/metrics", timeout=30), "django_http_responses_total_by_status_view_method_total",
                         view="health", status="200")

        before = health_count()
        for _ in range(30):
            assert _get(f"{base}/health") == 200
        # Whichever worker answers the scrape, it reports every worker's requests.
        for _ in range(5):
            assert health_count() == before + 30

        victim = sorted(_worker_pids(process.pid))[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in _worker_pids(process.pid) and len(_worker_pids(process.pid)) == 3,
                 timeout=30, what="gunicorn to replace the killed worker")
        # Requests the dead worker served still count; the new worker adds to them.
        assert health_count() == before + 30
        for _ in range(5):
            assert _get(f"{base}/health") == 200
        assert health_count() == before + 35
        pids_with_files = {int(p.stem.rsplit("_", 1)[1]) for p in multiproc.glob("*.db")}
        assert len(pids_with_files) >= 2, "samples come from several processes"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
