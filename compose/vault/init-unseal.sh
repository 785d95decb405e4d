#!/bin/sh
# vault-setup in server mode (docker-compose.vault-server.yml): initialize Vault once,
# unseal it, configure it (setup.sh), then keep unsealing it after every Vault restart.
#
# The first run writes the unseal key and root token to $VAULT_INIT_DIR/init.txt (mode
# 600, on the vault-init volume). Move that file somewhere safe (a password manager, an
# offline copy) and delete it; then give the key as VAULT_UNSEAL_KEY and the root token
# as VAULT_SERVER_ROOT_TOKEN in .env instead. With neither, Vault stays sealed and the app waits.
set -eu

: "${VAULT_ADDR:?}"
INIT_DIR="${VAULT_INIT_DIR:-/vault/init}"
INIT_FILE="$INIT_DIR/init.txt"

state() {  # "uninitialized", "sealed", "unsealed" or "down" (exit codes: 0 unsealed, 2 sealed)
  out=$(vault status 2>/dev/null) || true
  initialized=$(echo "$out" | awk '$1 == "Initialized" { print $2 }')
  sealed=$(echo "$out" | awk '$1 == "Sealed" { print $2 }')
  if [ "$initialized" = false ]; then echo uninitialized
  elif [ "$sealed" = true ]; then echo sealed
  elif [ "$sealed" = false ]; then echo unsealed
  else echo down
  fi
}

field() {  # a value of `vault operator init` output: field "Unseal Key 1" / "Initial Root Token"
  [ -f "$INIT_FILE" ] && sed -n "s/^$1: *//p" "$INIT_FILE" | head -n 1
}

until [ "$(state)" != down ]; do echo "waiting for vault at $VAULT_ADDR"; sleep 1; done

if [ "$(state)" = uninitialized ]; then
  umask 077
  mkdir -p "$INIT_DIR"
  vault operator init -key-shares=1 -key-threshold=1 >"$INIT_FILE"
  echo "init-unseal: Vault initialized; unseal key and root token in $INIT_FILE (move them away, see docs/operations.md)"
fi

unseal() {
  key="${VAULT_UNSEAL_KEY:-$(field 'Unseal Key 1')}"
  if [ -z "$key" ]; then
    echo "init-unseal: Vault is sealed and no unseal key is available (set VAULT_UNSEAL_KEY)" >&2
    return 1
  fi
  vault operator unseal "$key" >/dev/null
}

until [ "$(state)" = unsealed ]; do unseal || sleep 10; done

VAULT_TOKEN="${VAULT_ROOT_TOKEN:-$(field 'Initial Root Token')}"
export VAULT_TOKEN
/bin/sh /setup/setup.sh
touch /tmp/vault-ready

# Vault seals itself on every restart: unseal it again, so the app never waits long.
while true; do
  sleep 10
  case "$(state)" in sealed) unseal || true ;; esac
done
