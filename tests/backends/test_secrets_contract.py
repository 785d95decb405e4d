"""The runtime secrets port (apps.core.secrets), for every adapter.

- ``environment``: settings, then environment variables (always runs);
- ``vault-standin``: Vault KV v2 through hvac against ``VaultStandIn`` — a local HTTP
  stand-in for Vault's API, not Vault (always runs);
- ``vault-openbao``: a real OpenBao server (Vault's API) started by the ``openbao`` fixture;
  always runs.
- ``vault-live``: a real Vault when VAULT_ADDR and VAULT_TOKEN are set; it must hold
  ``WEBHOOK_SECRET_DOMAIN_1=contract-value`` at VAULT_RUNTIME_PATH (compose's init does).
"""

from __future__ import annotations

import logging
import os

import hvac
import pytest
from django.test import override_settings

from apps.core.secrets import EnvironmentSecrets, SecretsUnavailable, VaultSecrets, secrets_backend
from tests.backends.conftest import skip_unless_live
from tests.backends.vault_standin import VaultStandIn

NAME = "WEBHOOK_SECRET_DOMAIN_1"
VALUE = "contract-value"


@pytest.fixture(params=["environment", "vault-standin", "vault-openbao", pytest.param("vault-live", marks=pytest.mark.live)])
def backend(request):
    if request.param == "environment":
        yield EnvironmentSecrets({NAME: VALUE, "ONLY_IN_ENV": "env-value"})
    elif request.param == "vault-openbao":
        address, token = request.getfixturevalue("openbao")
        hvac.Client(url=address, token=token).secrets.kv.v2.create_or_update_secret(
            path="heysh/runtime", mount_point="secret", secret={NAME: VALUE}
        )
        yield VaultSecrets({"VAULT_ADDR": address, "VAULT_TOKEN": token, "ONLY_IN_ENV": "env-value"})
    elif request.param == "vault-standin":
        with VaultStandIn(secrets={"heysh/runtime": {NAME: VALUE}}) as standin:
            yield VaultSecrets({"VAULT_ADDR": standin.url, "VAULT_TOKEN": "root-token", "ONLY_IN_ENV": "env-value"})
    else:
        skip_unless_live("VAULT_ADDR", "VAULT_TOKEN")
        yield VaultSecrets({**os.environ, "ONLY_IN_ENV": "env-value"})


def test_reads_a_named_secret(backend):
    assert backend.get(NAME) == VALUE
    assert backend.require(NAME) == VALUE


def test_missing_names_fall_back_then_default(backend):
    assert backend.get("ONLY_IN_ENV") == "env-value"
    assert backend.get("WEBHOOK_SECRET_DOMAIN_999999") is None
    assert backend.get("WEBHOOK_SECRET_DOMAIN_999999", "fallback") == "fallback"


def test_settings_supply_values_too(backend):
    with override_settings(WEBHOOK_SECRET_DOMAIN_77="from-settings"):
        assert backend.get("WEBHOOK_SECRET_DOMAIN_77") == "from-settings"


@pytest.mark.parametrize("name", ["../sys/policy", "a/b", "", "x" * 129, "bad name"])
def test_names_are_validated(backend, name):
    with pytest.raises(ValueError):
        backend.get(name)


def test_vault_values_are_cached_then_refreshed():
    with VaultStandIn(secrets={"heysh/runtime": {NAME: "v1"}}) as standin:
        backend = VaultSecrets({"VAULT_ADDR": standin.url, "VAULT_TOKEN": "root-token"}, cache_seconds=3600)
        assert backend.get(NAME) == "v1"
        standin.secrets["heysh/runtime"] = {NAME: "v2"}  # rotated in Vault
        assert backend.get(NAME) == "v1"
        backend.invalidate()
        assert backend.get(NAME) == "v2"
        reads = [r for r in standin.requests if r[1].endswith("/heysh/runtime")]
        assert len(reads) == 2


def test_vault_down_serves_the_cached_values_and_never_logs_them(caplog):
    caplog.set_level(logging.DEBUG)
    with VaultStandIn(secrets={"heysh/runtime": {NAME: "cached-secret"}}) as standin:
        backend = VaultSecrets({"VAULT_ADDR": standin.url, "VAULT_TOKEN": "root-token", "VAULT_TIMEOUT_SECONDS": "1"},
                               cache_seconds=0)
        assert backend.get(NAME) == "cached-secret"
    assert backend.get(NAME) == "cached-secret"  # the stand-in is gone
    assert "serving runtime secrets cached" in caplog.text
    assert "cached-secret" not in caplog.text


def test_vault_down_from_the_start_is_a_clear_error(caplog):
    with VaultStandIn(secrets={}) as standin:
        url = standin.url
    backend = VaultSecrets({"VAULT_ADDR": url, "VAULT_TOKEN": "tok-" + VALUE, "VAULT_TIMEOUT_SECONDS": "1"})
    with pytest.raises(SecretsUnavailable, match="Could not read runtime secrets from Vault at") as info:
        backend.get(NAME)
    assert VALUE not in str(info.value) and VALUE not in caplog.text


def test_lazy_port_picks_the_environment_without_vault(monkeypatch):
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRET_DOMAIN_5", "five")
    secrets_backend.reset()
    try:
        assert isinstance(secrets_backend.backend, EnvironmentSecrets)
        assert secrets_backend.get("WEBHOOK_SECRET_DOMAIN_5") == "five"
    finally:
        secrets_backend.reset()


def test_lazy_port_picks_vault_when_configured(monkeypatch):
    with VaultStandIn(secrets={"heysh/runtime": {NAME: VALUE}}) as standin:
        monkeypatch.setenv("VAULT_ADDR", standin.url)
        monkeypatch.setenv("VAULT_TOKEN", "root-token")
        secrets_backend.reset()
        try:
            assert isinstance(secrets_backend.backend, VaultSecrets)
            assert secrets_backend.get(NAME) == VALUE
        finally:
            secrets_backend.reset()
