"""The OpenAPI schema tells the truth about the running service: schemathesis (its CLI, the
pinned version of requirements/dev.txt) generates requests from ``/api/schema/`` and sends them
to a real gunicorn serving this run's database, authenticated with a JWT of a superuser who owns
a domain. All checks, every phase (examples, coverage, fuzzing, stateful), a fixed seed and a
bounded number of examples per operation; any failure fails the test and is printed.

Settings and hooks: ``schemathesis.toml`` at the repository root (docs/api.md "Schema checks").
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import DomainFactory, MembershipFactory, UserFactory
from tests.ops.helpers import free_port, wait_for
from tests.workers import purge_queues, test_database_url

# The coverage phase sends about 1,500 requests; on a loaded 2-core machine the run took 10 minutes.
pytestmark = [pytest.mark.schema_check, pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]

ROOT = Path(settings.BASE_DIR)
SEED = 1
MAX_EXAMPLES = 5
PASSWORD = "schema-check-pass-1"


@pytest.fixture
def live_server_port(tmp_path):
    """gunicorn with the production config (compose/django/gunicorn.conf.py), so that its own
    414/431 answers are part of what is checked, on this run's database, broker and var dir."""
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL or "",
        "HEYSH_VAR_DIR": str(settings.VAR_DIR),
        "HEYSH_EMBEDDER": "hashing",
        "HEYSH_EXTRACTOR": "rules",
        "HF_HUB_OFFLINE": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "HEYSH_API_PORT": str(port),
        "HEYSH_API_WORKERS": "1",
        "HEYSH_API_THREADS": "4",
        # 429 is documented everywhere; throttling most requests would leave the rest unchecked.
        "HEYSH_THROTTLE_ANON": "100000/min",
        "HEYSH_THROTTLE_USER": "100000/min",
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "heysh.wsgi:application", "--config", str(ROOT / "compose/django/gunicorn.conf.py")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200,
            timeout=90, what="gunicorn /health",
        )
        yield port
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        # The server queued pipeline tasks that no worker ran; later tests start from empty queues.
        purge_queues()
        errors = [line for line in log_path.read_text(errors="replace").splitlines() if '"levelname": "ERROR"' in line]
        print(f"gunicorn logged {len(errors)} error lines", *errors[:20], sep="\n")


def _token(port: int, username: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/token/", method="POST",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access"]


def test_schemathesis_finds_no_failure_against_a_live_server(live_server_port, tmp_path):
    user = UserFactory(username="schema-admin", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(domain=DomainFactory(slug="checked", name="Checked"), user=user, role="owner")
    token = _token(live_server_port, user.username)

    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"http://127.0.0.1:{live_server_port}/api/schema/",
        "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
        "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "--workers", "2",
        "--header", f"Authorization: Bearer {token}", "--no-color",
        # Speed is measured in bench/, not here: a loaded CI machine answers a login in seconds.
        "--max-response-time", "120", "--request-timeout", "120",
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=1500,
    )
    output = result.stdout + result.stderr
    summary = re.search(r"Test cases:\s*\n\s*(.+)", output)
    print(summary.group(1) if summary else "(no summary)")

    assert "Tested: " in output, output[-5000:]
    assert result.returncode == 0, "schemathesis found failures:\n" + output[-30000:]
