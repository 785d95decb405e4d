#!/bin/sh
# Every application container starts here, whatever its command.
set -eu

# Multiprocess metrics: each container has its own directory; stale files from a
# previous run of this container would be counted again, so start empty.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete
fi

# AppRole credentials written by vault-setup (docker-compose.vault-server.yml), as files on
# a read-only volume: heysh/vault.py logs in with VAULT_ROLE_ID + VAULT_SECRET_ID.
if [ -n "${VAULT_APPROLE_DIR:-}" ]; then
  VAULT_ROLE_ID=$(cat "$VAULT_APPROLE_DIR/role_id")
  VAULT_SECRET_ID=$(cat "$VAULT_APPROLE_DIR/secret_id")
  export VAULT_ROLE_ID VAULT_SECRET_ID
fi

exec "$@"
