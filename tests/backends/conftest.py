"""Fixtures for the backend contract suites.

Live adapters (Neo4j, Weaviate, MinIO, Vault) run when their URL is configured in the
environment, as under ``docker compose``; otherwise their cases are skipped with the reason.
"""

from __future__ import annotations

import os

import pytest


def live_env(*names: str) -> str | None:
    """The reason to skip, or None when every variable is set."""
    missing = [n for n in names if not os.environ.get(n, "").strip()]
    return f"live server not configured: set {', '.join(missing)}" if missing else None


def skip_unless_live(*names: str):
    reason = live_env(*names)
    if reason:
        pytest.skip(reason)
