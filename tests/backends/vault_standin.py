"""A small stand-in for HashiCorp Vault's HTTP API — NOT Vault.

It implements only what heysh uses, with Vault's paths and JSON shapes:
``GET /v1/<mount>/data/<path>`` (KV v2 read, ``X-Vault-Token`` checked),
``POST /v1/auth/approle/login`` and ``POST /v1/auth/kubernetes/login``. The live suite
runs the same loader against a real Vault when VAULT_ADDR is set.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class VaultStandIn:
    def __init__(self, *, secrets: dict[str, dict[str, str]], mount: str = "secret", root_token: str = "root-token",
                 role_id: str = "role-1", secret_id: str = "secret-id-1", k8s_role: str = "heysh", k8s_jwt: str = "jwt-1"):
        self.secrets = secrets
        self.mount = mount
        self.tokens = {root_token}
        self.role_id, self.secret_id = role_id, secret_id
        self.k8s_role, self.k8s_jwt = k8s_role, k8s_jwt
        self.requests: list[tuple[str, str]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = urlparse(self.path).path
                standin.requests.append(("GET", path))
                prefix = f"/v1/{standin.mount}/data/"
                if self.headers.get("X-Vault-Token") not in standin.tokens:
                    return self._send(403, {"errors": ["permission denied"]})
                if not path.startswith(prefix) or path[len(prefix):] not in standin.secrets:
                    return self._send(404, {"errors": []})
                self._send(200, {"data": {
                    "data": standin.secrets[path[len(prefix):]],
                    "metadata": {"version": 1, "deletion_time": "", "destroyed": False,
                                 "created_time": "2026-01-01T00:00:00Z", "custom_metadata": None},
                }})

            def do_POST(self):
                path = urlparse(self.path).path
                standin.requests.append(("POST", path))
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if path == "/v1/auth/approle/login" and (body.get("role_id"), body.get("secret_id")) == (standin.role_id, standin.secret_id):
                    return self._login("approle-token")
                if path == "/v1/auth/kubernetes/login" and (body.get("role"), body.get("jwt")) == (standin.k8s_role, standin.k8s_jwt):
                    return self._login("k8s-token")
                self._send(400, {"errors": ["invalid credentials"]})

            def _login(self, token):
                standin.tokens.add(token)
                self._send(200, {"auth": {"client_token": token, "lease_duration": 3600, "renewable": True,
                                          "policies": ["heysh"], "accessor": "acc"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
