"""Per-domain API keys for services: ``Authorization: Api-Key hk_<prefix>_<secret>``.

Only the SHA-256 of the key is stored. The request's user becomes an
``ApiKeyPrincipal`` (authenticated, no Django user behind it) and ``request.auth`` the
ApiKey row, so scoping code sees one domain and the key's role.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.domains.models import ApiKey

KEY_PREFIX = "hk"
HEADER_KEYWORD = "Api-Key"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def generate_key() -> tuple[str, str, str]:
    """(raw key, public prefix, hash). The raw key is shown once and never stored."""
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return raw, prefix, hash_key(raw)


class ApiKeyPrincipal:
    """What ``request.user`` is for a request authenticated with an API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"

    def has_perm(self, *args, **kwargs) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header.startswith(HEADER_KEYWORD + " "):
            return None
        raw = header[len(HEADER_KEYWORD) + 1 :].strip()
        parts = raw.split("_", 2)  # the secret part may itself contain "_"
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            raise exceptions.AuthenticationFailed("Malformed API key.")
        api_key = ApiKey.objects.select_related("domain").filter(prefix=parts[1], revoked_at__isnull=True).first()
        if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_key(raw)):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return HEADER_KEYWORD
