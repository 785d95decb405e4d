"""Runtime secrets: values read after start (e.g. a domain's webhook signing secret).

    from apps.core.secrets import secrets_backend
    secrets_backend.get("WEBHOOK_SECRET_DOMAIN_12")

With ``VAULT_ADDR`` set, names are keys of the KV v2 secret at ``VAULT_RUNTIME_PATH``
(default ``heysh/runtime``, mount ``VAULT_KV_MOUNT``), read with the same credentials
as the settings loader (``heysh.vault``) and cached for ``VAULT_RUNTIME_CACHE_SECONDS``.
Otherwise — and for names Vault does not have — the Django setting of that name, then
the environment variable. Values are never logged nor put into exception messages.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from heysh.vault import _client

logger = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class SecretsUnavailable(RuntimeError):
    """The secrets store cannot be read now (transient); the message names no value."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError("secret names are 1-128 characters of letters, digits, '_', '.', '-'")
    return name


class SecretsBackend(ABC):
    @abstractmethod
    def get(self, name: str, default: str | None = None) -> str | None: ...

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise ImproperlyConfigured(f"secret {name!r} is not set")
        return value


class EnvironmentSecrets(SecretsBackend):
    """Settings first, then the environment."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ

    def get(self, name: str, default: str | None = None) -> str | None:
        _check_name(name)
        value = getattr(settings, name, None)
        if isinstance(value, str) and value:
            return value
        value = self.environ.get(name)
        return value if value else default


class VaultSecrets(SecretsBackend):
    """KV v2 at one path, cached; falls back to settings/environment for names Vault lacks."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, cache_seconds: float | None = None):
        self.environ = dict(os.environ if environ is None else environ)
        self.mount = self.environ.get("VAULT_KV_MOUNT", "secret")
        self.path = self.environ.get("VAULT_RUNTIME_PATH", "heysh/runtime")
        self.cache_seconds = (
            float(self.environ.get("VAULT_RUNTIME_CACHE_SECONDS", "60")) if cache_seconds is None else cache_seconds
        )
        self.fallback = EnvironmentSecrets(self.environ)
        self._values: dict[str, str] | None = None
        self._read_at = 0.0
        self._client = None
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        if self._client is None:
            self._client = _client(self.environ)
        try:
            response = self._client.secrets.kv.v2.read_secret_version(
                path=self.path, mount_point=self.mount, raise_on_deleted_version=True
            )
        except Exception as exc:
            if type(exc).__name__ == "InvalidPath":  # no runtime secrets stored yet
                return {}
            self._client = None  # the token may have expired: log in again next time
            raise SecretsUnavailable(
                f"Could not read runtime secrets from Vault at {self.environ.get('VAULT_ADDR')} "
                f"(mount {self.mount!r}, path {self.path!r}): {type(exc).__name__}"
            ) from None
        return {str(k): str(v) for k, v in response["data"]["data"].items()}

    def _current(self) -> dict[str, str]:
        with self._lock:
            if self._values is None or time.monotonic() - self._read_at >= self.cache_seconds:
                try:
                    self._values = self._read()
                    self._read_at = time.monotonic()
                except (SecretsUnavailable, ImproperlyConfigured):
                    if self._values is None:
                        raise
                    logger.warning(
                        "Vault unreachable; serving runtime secrets cached %.0fs ago", time.monotonic() - self._read_at
                    )
            return self._values

    def get(self, name: str, default: str | None = None) -> str | None:
        _check_name(name)
        value = self._current().get(name)
        if value:
            return value
        return self.fallback.get(name, default)

    def invalidate(self) -> None:
        with self._lock:
            self._values = None


class _LazySecrets(SecretsBackend):
    """Picks Vault or the environment on first use (after settings load), not at import."""

    def __init__(self):
        self._backend: SecretsBackend | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> SecretsBackend:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = VaultSecrets() if os.environ.get("VAULT_ADDR", "").strip() else EnvironmentSecrets()
        return self._backend

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.backend.get(name, default)

    def reset(self) -> None:
        self._backend = None


secrets_backend = _LazySecrets()


def vault_token_renew(environ: Mapping[str, str] | None = None) -> dict:
    """Renew this process's Vault token when it is renewable (a periodic token: its TTL goes
    back to the period), so the app's token never runs out; beat runs it hourly. Returns
    {"renewed": bool, "ttl": seconds left}; {"vault": "not configured"} without VAULT_ADDR."""
    environ = dict(os.environ if environ is None else environ)
    if not environ.get("VAULT_ADDR", "").strip():
        return {"vault": "not configured"}
    client = _client(environ)
    try:
        info = client.auth.token.lookup_self()["data"]
        if not info.get("renewable"):
            return {"renewed": False, "ttl": int(info.get("ttl") or 0)}
        renewed = client.auth.token.renew_self()["auth"]
    except Exception as exc:  # name the kind and the address, never the token
        raise SecretsUnavailable(
            f"Could not renew the Vault token at {environ.get('VAULT_ADDR')}: {type(exc).__name__}"
        ) from None
    logger.info("renewed the Vault token for %ss", renewed["lease_duration"])
    return {"renewed": True, "ttl": int(renewed["lease_duration"])}
