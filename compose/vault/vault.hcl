# Vault in server mode (docker-compose.vault-server.yml): data on the vault-data volume,
# sealed at every start until compose/vault/init-unseal.sh unseals it.
storage "file" {
  path = "/vault/file"
}

# Plain HTTP on the compose network only (no published port); put TLS here when Vault
# is reached from outside the host.
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr      = "http://vault:8200"
ui            = false
disable_mlock = false
