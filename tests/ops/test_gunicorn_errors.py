"""gunicorn's own answers (before Django sees the request) in the one JSON error shape: a real
gunicorn process with compose/django/gunicorn.conf.py, spoken to over a raw socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.ops.helpers import free_port, wait_for
from tests.workers import test_database_url

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def gunicorn_port(tmp_path):
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "HEYSH_API_PORT": str(port),
        "HEYSH_API_WORKERS": "1",
        "HEYSH_API_THREADS": "2",
    }
    log = open(tmp_path / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "heysh.wsgi:application",
            "--config",
            str(ROOT / "compose/django/gunicorn.conf.py"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200,
            timeout=90,
            what="gunicorn /health",
        )
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _raw(port: int, request: bytes) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _error(answer, status: int, code: str) -> dict:
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"] and len(error["request_id"]) == 32
    return error


def test_gunicorns_own_errors_are_json_in_the_error_shape(gunicorn_port):
    host = b"Host: 127.0.0.1\r\n"
    long_line = b"GET /api/v1/documents?q=" + b"a" * 5000 + b" HTTP/1.1\r\n" + host + b"\r\n"
    _error(_raw(gunicorn_port, long_line), 414, "uri_too_long")

    many_headers = b"GET /health HTTP/1.1\r\n" + host + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
    _error(_raw(gunicorn_port, many_headers), 431, "headers_too_large")

    huge_header = b"GET /health HTTP/1.1\r\n" + host + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n"
    _error(_raw(gunicorn_port, huge_header), 431, "headers_too_large")

    error = _error(_raw(gunicorn_port, b"NOT-HTTP\r\n\r\n"), 400, "bad_request")
    assert "<html>" not in json.dumps(error)

    # Django still answers what gunicorn passes on.
    status, headers, body = _raw(gunicorn_port, b"GET /health HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
    assert status == 200
