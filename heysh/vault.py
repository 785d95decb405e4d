"""Secrets from HashiCorp Vault, read once when settings load.

When ``VAULT_ADDR`` is set, the KV v2 secrets at ``VAULT_KV_PATHS`` are read and
overlaid on the process environment, so settings read ``HEYSH_SECRET_KEY``,
``DATABASE_URL``, ``NEO4J_PASSWORD``... the same way whichever place they come from.
A variable set in the environment wins over Vault (handy for one-off overrides).
Vault configured but unreachable or refusing is a hard error with a clear message;
secret values are never logged or put into exception messages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import hvac
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

KUBERNETES_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _public_address(addr: str) -> str:
    """VAULT_ADDR without any user:password@ part, for messages."""
    parts = urlsplit(addr)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def _timeout(environ: Mapping[str, str]) -> float:
    raw = environ.get("VAULT_TIMEOUT_SECONDS", "5")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 120:
        raise ImproperlyConfigured(f"VAULT_TIMEOUT_SECONDS={raw!r} is not a number of seconds in (0, 120].")
    return value


def _client(environ: Mapping[str, str]):
    timeout = _timeout(environ)
    client = hvac.Client(url=environ["VAULT_ADDR"], timeout=timeout, namespace=environ.get("VAULT_NAMESPACE") or None)
    if environ.get("VAULT_TOKEN"):
        client.token = environ["VAULT_TOKEN"]
    elif environ.get("VAULT_ROLE_ID"):
        client.auth.approle.login(role_id=environ["VAULT_ROLE_ID"], secret_id=environ.get("VAULT_SECRET_ID", ""))
    elif environ.get("VAULT_K8S_ROLE"):
        with open(environ.get("VAULT_K8S_TOKEN_PATH", KUBERNETES_TOKEN_PATH)) as handle:
            client.auth.kubernetes.login(role=environ["VAULT_K8S_ROLE"], jwt=handle.read().strip())
    else:
        raise ImproperlyConfigured(
            "VAULT_ADDR is set but no Vault credentials are: set VAULT_TOKEN, "
            "VAULT_ROLE_ID (+ VAULT_SECRET_ID) or VAULT_K8S_ROLE."
        )
    return client


def read_vault_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """Read every configured KV v2 path; later paths win over earlier ones."""
    mount = environ.get("VAULT_KV_MOUNT", "secret")
    paths = [p.strip() for p in environ.get("VAULT_KV_PATHS", "heysh").split(",") if p.strip()]
    try:
        client = _client(environ)
        values: dict[str, str] = {}
        for path in paths:
            response = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)
            values.update({str(k): str(v) for k, v in response["data"]["data"].items()})
    except ImproperlyConfigured:
        raise
    except Exception as exc:  # any hvac/requests failure: name the kind, never the values
        raise ImproperlyConfigured(
            f"Could not read secrets from Vault at {_public_address(environ['VAULT_ADDR'])} "
            f"(mount {mount!r}, paths {paths}): {type(exc).__name__}"
        ) from None
    logger.info("read %d secrets from Vault paths %s", len(values), paths)
    return values


def environ_with_vault_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    if not environ.get("VAULT_ADDR", "").strip():
        return environ
    return {**read_vault_secrets(environ), **environ}
