"""Container healthchecks for the application image (stdlib only, fast).

    healthcheck.py http URL          -> 200 from URL (api: /health)
    healthcheck.py worker [PORT]     -> the worker's metrics port says celery_worker_up 1
    healthcheck.py beat [PORT]       -> beat's metrics port answers and beat published
                                        within HEYSH_BEAT_STALE_SECONDS (default 300)
"""

import os
import re
import sys
import time
import urllib.request


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        if response.status != 200:
            raise SystemExit(f"{url} answered {response.status}")
        return response.read().decode()


def main(argv: list[str]) -> None:
    mode = argv[1] if len(argv) > 1 else "http"
    if mode == "http":
        fetch(argv[2] if len(argv) > 2 else "http://127.0.0.1:8000/health")
        return
    port = argv[2] if len(argv) > 2 else os.environ.get("HEYSH_METRICS_PORT", "9100")
    page = fetch(f"http://127.0.0.1:{port}/metrics")
    if mode == "worker":
        if not re.search(r"^celery_worker_up\{[^}]*\} 1\.0$", page, re.M):
            raise SystemExit("celery_worker_up is not 1")
    elif mode == "beat":
        match = re.search(r"^heysh_beat_last_run_timestamp_seconds(?:\{[^}]*\})? (\S+)$", page, re.M)
        stale = float(os.environ.get("HEYSH_BEAT_STALE_SECONDS", "300"))
        if not match or time.time() - float(match.group(1)) > stale:
            raise SystemExit("beat has not published recently")
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
