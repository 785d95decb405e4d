#!/bin/sh
# vault-setup (one-shot): write the app's secrets to KV v2 and mint the app's token.
#
# Runs with the root token against the dev-mode Vault of docker-compose.yml; the
# secrets come from this container's environment (fed from .env), the app
# containers never see them as variables: they read them from Vault at start.
# Idempotent: safe to re-run (`docker compose up vault-setup`), e.g. after Vault
# restarted (dev mode keeps everything in memory).
set -eu

: "${VAULT_ADDR:?}" "${VAULT_TOKEN:?root token}" "${HEYSH_VAULT_APP_TOKEN:?}"
MOUNT="${VAULT_KV_MOUNT:-secret}"

# Percent-encode for a URL's user-info (RFC 3986 unreserved characters stay), byte by byte:
# a password with @ : / # % or spaces must not break DATABASE_URL.
urlencode() {
  printf '%s' "$1" | od -An -v -tx1 | tr -s ' \n' '\n\n' | while read -r byte; do
    [ -n "$byte" ] || continue
    case "$byte" in
      2d|2e|5f|7e|3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]) printf "\\$(printf '%03o' "0x$byte")" ;;
      *) printf '%%%s' "$byte" | tr 'a-f' 'A-F' ;;
    esac
  done
}

until vault status >/dev/null 2>&1; do
  echo "waiting for vault at $VAULT_ADDR"; sleep 1
done

# KV v2 at $MOUNT (dev mode already mounts secret/ as v2; a fresh server does not).
if ! vault secrets list -format=json | grep -q "\"$MOUNT/\""; then
  vault secrets enable -path="$MOUNT" -version=2 kv
fi

# The secrets heysh/settings.py reads (heysh/vault.py overlays them on the environment).
vault kv put "$MOUNT/heysh" \
  HEYSH_SECRET_KEY="$HEYSH_SECRET_KEY" \
  DATABASE_URL="postgres://$(urlencode "$POSTGRES_USER"):$(urlencode "$POSTGRES_PASSWORD")@postgres:5432/${POSTGRES_DB}" \
  NEO4J_PASSWORD="$NEO4J_PASSWORD" \
  WEAVIATE_API_KEY="$WEAVIATE_API_KEY" \
  HEYSH_S3_ACCESS_KEY="$MINIO_APP_ACCESS_KEY" \
  HEYSH_S3_SECRET_KEY="$MINIO_APP_SECRET_KEY" \
  HEYSH_LLM_API_KEY="${HEYSH_LLM_API_KEY:-}" \
  HEYSH_METRICS_TOKEN="$HEYSH_METRICS_TOKEN" >/dev/null

# Runtime secrets (apps/core/secrets.py) live beside them; create the path once.
if ! vault kv get "$MOUNT/heysh/runtime" >/dev/null 2>&1; then
  vault kv put "$MOUNT/heysh/runtime" created_by=vault-setup >/dev/null
fi

# A read-only policy and a fixed-id token for the application containers.
vault policy write heysh-app - <<POLICY >/dev/null
path "$MOUNT/data/heysh" { capabilities = ["read"] }
path "$MOUNT/data/heysh/*" { capabilities = ["read"] }
POLICY
if ! vault token lookup "$HEYSH_VAULT_APP_TOKEN" >/dev/null 2>&1; then
  vault token create -id="$HEYSH_VAULT_APP_TOKEN" -policy=heysh-app -orphan -period=768h \
    -display-name=heysh-app >/dev/null
fi

# Server mode (docker-compose.vault-server.yml): the app logs in with AppRole. Its tokens are
# periodic (renewed by the app's beat task, tasks.diagnostics.vault_token_renew); the secret
# id does not expire, so a process that lost its token logs in again.
if [ -n "${HEYSH_VAULT_APPROLE_DIR:-}" ]; then
  if ! vault auth list -format=json | grep -q '"approle/"'; then
    vault auth enable approle >/dev/null
  fi
  vault write auth/approle/role/heysh-app token_policies=heysh-app token_period=24h \
    secret_id_ttl=0 secret_id_num_uses=0 >/dev/null
  umask 077
  mkdir -p "$HEYSH_VAULT_APPROLE_DIR"
  vault read -field=role_id auth/approle/role/heysh-app/role-id >"$HEYSH_VAULT_APPROLE_DIR/role_id"
  if [ ! -s "$HEYSH_VAULT_APPROLE_DIR/secret_id" ]; then
    vault write -f -field=secret_id auth/approle/role/heysh-app/secret-id >"$HEYSH_VAULT_APPROLE_DIR/secret_id"
  fi
  chmod 644 "$HEYSH_VAULT_APPROLE_DIR/role_id" "$HEYSH_VAULT_APPROLE_DIR/secret_id"  # read by the app's user
fi
echo "vault-setup: secrets written to $MOUNT/heysh, app credentials ready"
