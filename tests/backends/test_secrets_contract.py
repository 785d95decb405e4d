"""The runtime secrets port (apps.core.secrets), for every adapter.

- ``environment``: settings, then environment variables (always runs);
- ``vault-standin``: Vault KV v2 through hvac against ``VaultStandIn`` — a local HTTP
  stand-in for Vault's API, not Vault (always runs);
- ``vault-openbao``: a real OpenBao server (Vault's API) started by the ``openbao`` fixture;
  always runs.
- ``vault-live``: a real Vault when VAULT_ADDR and VAULT_TOKEN are set; the case writes its
  own secret at ``heysh/live-contract`` (and removes it), so the token must be allowed to.
"""

from __future__ import annotations

import logging
import os

import hvac
import pytest
from django.test import override_settings

from apps.core.secrets import EnvironmentSecrets, SecretsUnavailable, VaultSecrets, secrets_backend
from tests.backends.conftest import require_live
from tests.backends.vault_standin import VaultStandIn

NAME = "WEBHOOK_SECRET_DOMAIN_1"
VALUE = "contract-value"
LIVE_PATH = "heysh/live-contract"


@pytest.fixture(
    params=["environment", "vault-standin", "vault-openbao", pytest.param("vault-live", marks=pytest.mark.live)]
)
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
        require_live("VAULT_ADDR", "VAULT_TOKEN")
        # Its own path, written here: the contract never depends on what a deployment stored.
        live = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
        mount = os.environ.get("VAULT_KV_MOUNT", "secret")
        try:
            live.secrets.kv.v2.create_or_update_secret(path=LIVE_PATH, mount_point=mount, secret={NAME: VALUE})
        except hvac.exceptions.Forbidden:
            pytest.fail(f"the live VAULT_TOKEN may not write {mount}/{LIVE_PATH} (the live-tests service's may)")
        yield VaultSecrets({**os.environ, "VAULT_RUNTIME_PATH": LIVE_PATH, "ONLY_IN_ENV": "env-value"})
        live.secrets.kv.v2.delete_metadata_and_all_versions(path=LIVE_PATH, mount_point=mount)


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
        backend = VaultSecrets(
            {"VAULT_ADDR": standin.url, "VAULT_TOKEN": "root-token", "VAULT_TIMEOUT_SECONDS": "1"}, cache_seconds=0
        )
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


# --- token renewal, against OpenBao ----------------------------------------------------
def _token(address, root, **options) -> str:
    return hvac.Client(url=address, token=root).auth.token.create(policies=["default"], **options)["auth"][
        "client_token"
    ]


def test_a_periodic_token_is_renewed_back_to_its_period(openbao):
    import time

    from apps.core.secrets import vault_token_renew

    address, root = openbao
    token = _token(address, root, period="60s")
    time.sleep(2)
    before = hvac.Client(url=address, token=token).auth.token.lookup_self()["data"]["ttl"]
    assert before <= 58
    result = vault_token_renew({"VAULT_ADDR": address, "VAULT_TOKEN": token})
    assert result["renewed"] is True and 58 < result["ttl"] <= 60
    assert hvac.Client(url=address, token=token).auth.token.lookup_self()["data"]["ttl"] > before


def test_a_token_that_cannot_be_renewed_is_reported_not_renewed(openbao):
    from apps.core.secrets import vault_token_renew

    address, root = openbao
    token = _token(address, root, ttl="1h", renewable=False)
    result = vault_token_renew({"VAULT_ADDR": address, "VAULT_TOKEN": token})
    assert result["renewed"] is False and 3500 < result["ttl"] <= 3600


def test_an_expired_token_is_a_clear_error_naming_vault_addr_not_the_token(openbao):
    import time

    from apps.core.secrets import vault_token_renew

    address, root = openbao
    token = _token(address, root, ttl="1s", explicit_max_ttl="1s")
    time.sleep(2)
    with pytest.raises(SecretsUnavailable, match=f"Could not renew the Vault token at {address}") as info:
        vault_token_renew({"VAULT_ADDR": address, "VAULT_TOKEN": token})
    assert token not in str(info.value)
    assert vault_token_renew({}) == {"vault": "not configured"}


def test_an_approle_login_gets_a_periodic_token_the_app_renews(openbao):
    """What compose/vault/setup.sh configures in server mode, replayed against OpenBao."""
    from apps.core.secrets import vault_token_renew
    from heysh.vault import read_vault_secrets

    address, root = openbao
    admin = hvac.Client(url=address, token=root)
    if "approle/" not in admin.sys.list_auth_methods():
        admin.sys.enable_auth_method("approle")
    admin.sys.create_or_update_policy("heysh-app-test", 'path "secret/data/heysh-approle" { capabilities = ["read"] }')
    admin.auth.approle.create_or_update_approle(
        "heysh-app-test", token_policies=["heysh-app-test"], token_period="24h", secret_id_ttl=0, secret_id_num_uses=0
    )
    admin.secrets.kv.v2.create_or_update_secret(
        path="heysh-approle", mount_point="secret", secret={"DATABASE_URL": "x"}
    )
    role_id = admin.auth.approle.read_role_id("heysh-app-test")["data"]["role_id"]
    secret_id = admin.auth.approle.generate_secret_id("heysh-app-test")["data"]["secret_id"]
    environ = {
        "VAULT_ADDR": address,
        "VAULT_ROLE_ID": role_id,
        "VAULT_SECRET_ID": secret_id,
        "VAULT_KV_PATHS": "heysh-approle",
    }
    assert read_vault_secrets(environ) == {"DATABASE_URL": "x"}
    result = vault_token_renew(environ)
    assert result["renewed"] is True and result["ttl"] > 23 * 3600
