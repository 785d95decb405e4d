"""heysh/vault.py: secrets from Vault KV v2 overlaid on the environment at settings load.

Runs against ``VaultStandIn`` — a small local HTTP stand-in for Vault's API (not Vault).
The live variant reads a real Vault when VAULT_ADDR (+ VAULT_TOKEN) is set.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from heysh.vault import environ_with_vault_secrets, read_vault_secrets
from tests.backends.conftest import require_live
from tests.backends.vault_standin import VaultStandIn

ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUE = "s3cr3t-value-never-logged"


@pytest.fixture
def vault():
    with VaultStandIn(secrets={
        "heysh": {"HEYSH_SECRET_KEY": "from-vault-key", "NEO4J_PASSWORD": SECRET_VALUE, "SHARED": "base"},
        "heysh/extra": {"SHARED": "override", "WEAVIATE_API_KEY": "wv-key"},
    }) as standin:
        yield standin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_token_auth_reads_every_path_later_paths_win(vault):
    values = read_vault_secrets({"VAULT_ADDR": vault.url, "VAULT_TOKEN": "root-token", "VAULT_KV_PATHS": "heysh, heysh/extra"})
    assert values == {"HEYSH_SECRET_KEY": "from-vault-key", "NEO4J_PASSWORD": SECRET_VALUE, "SHARED": "override",
                      "WEAVIATE_API_KEY": "wv-key"}
    assert ("GET", "/v1/secret/data/heysh/extra") in vault.requests


def test_approle_login_then_read(vault):
    values = read_vault_secrets({"VAULT_ADDR": vault.url, "VAULT_ROLE_ID": "role-1", "VAULT_SECRET_ID": "secret-id-1"})
    assert values["HEYSH_SECRET_KEY"] == "from-vault-key"
    assert vault.requests[0] == ("POST", "/v1/auth/approle/login")


def test_kubernetes_login_reads_the_service_account_token(vault, tmp_path):
    token = tmp_path / "token"
    token.write_text("jwt-1\n")
    values = read_vault_secrets({"VAULT_ADDR": vault.url, "VAULT_K8S_ROLE": "heysh", "VAULT_K8S_TOKEN_PATH": str(token)})
    assert values["SHARED"] == "base"
    assert ("POST", "/v1/auth/kubernetes/login") in vault.requests


def test_environment_wins_over_vault(vault):
    environ = environ_with_vault_secrets({"VAULT_ADDR": vault.url, "VAULT_TOKEN": "root-token", "HEYSH_SECRET_KEY": "from-env"})
    assert environ["HEYSH_SECRET_KEY"] == "from-env"
    assert environ["NEO4J_PASSWORD"] == SECRET_VALUE


def test_without_vault_addr_nothing_is_contacted(vault):
    assert environ_with_vault_secrets({"HEYSH_SECRET_KEY": "x"}) == {"HEYSH_SECRET_KEY": "x"}
    assert vault.requests == []


@pytest.mark.parametrize("environ, kind", [
    ({"VAULT_TOKEN": "wrong-" + SECRET_VALUE}, "Forbidden"),
    ({"VAULT_ROLE_ID": "role-1", "VAULT_SECRET_ID": "bad-" + SECRET_VALUE}, "InvalidRequest"),
])
def test_refused_credentials_fail_fast_without_secrets(vault, caplog, environ, kind):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ImproperlyConfigured) as info:
        read_vault_secrets({"VAULT_ADDR": vault.url, **environ})
    message = str(info.value)
    assert vault.url in message and kind in message
    assert SECRET_VALUE not in message and SECRET_VALUE not in caplog.text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreachable_vault_is_a_clear_error_without_secrets(caplog):
    caplog.set_level(logging.DEBUG)
    addr = f"http://user:{SECRET_VALUE}@127.0.0.1:{free_port()}"
    with pytest.raises(ImproperlyConfigured) as info:
        read_vault_secrets({"VAULT_ADDR": addr, "VAULT_TOKEN": SECRET_VALUE, "VAULT_TIMEOUT_SECONDS": "1"})
    message = str(info.value)
    assert "Could not read secrets from Vault at http://127.0.0.1:" in message and "ConnectionError" in message
    assert SECRET_VALUE not in message and SECRET_VALUE not in caplog.text


def test_missing_credentials_and_bad_timeout_are_named(vault):
    with pytest.raises(ImproperlyConfigured, match="no Vault credentials are: set VAULT_TOKEN"):
        read_vault_secrets({"VAULT_ADDR": vault.url})
    with pytest.raises(ImproperlyConfigured, match="VAULT_TIMEOUT_SECONDS='soon'"):
        read_vault_secrets({"VAULT_ADDR": vault.url, "VAULT_TOKEN": "root-token", "VAULT_TIMEOUT_SECONDS": "soon"})


def _settings_subprocess(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "HEYSH_SECRET_KEY", "DATABASE_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "heysh.settings", **extra_env})
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'secret_key': s.SECRET_KEY, 'db': s.DATABASES['default']['NAME'], "
        "'engine': s.DATABASES['default']['ENGINE']}))"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_settings_load_end_to_end_from_vault():
    """A fresh process with only VAULT_* set gets its secret key and database URL from (the stand-in for) Vault."""
    with VaultStandIn(secrets={"heysh": {
        "HEYSH_SECRET_KEY": "vault-supplied-secret-key", "DATABASE_URL": "postgres://heysh@db.internal:5432/heysh_from_vault",
    }}) as standin:
        result = _settings_subprocess({"VAULT_ADDR": standin.url, "VAULT_TOKEN": "root-token"})
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"secret_key": "vault-supplied-secret-key", "db": "heysh_from_vault",
                      "engine": "django_prometheus.db.backends.postgresql"}


def test_settings_load_fails_fast_when_vault_is_down():
    result = _settings_subprocess({"VAULT_ADDR": f"http://127.0.0.1:{free_port()}", "VAULT_TOKEN": SECRET_VALUE,
                                   "VAULT_TIMEOUT_SECONDS": "1"})
    assert result.returncode != 0
    assert "ImproperlyConfigured: Could not read secrets from Vault at" in result.stderr
    assert SECRET_VALUE not in result.stderr + result.stdout


@pytest.mark.live
def test_live_vault_reads_the_configured_paths():
    require_live("VAULT_ADDR")
    values = read_vault_secrets(os.environ)
    assert isinstance(values, dict) and values, "the configured KV paths hold no secrets"
