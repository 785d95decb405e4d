"""Rate limits per user / API key and per anonymous address.

Counters live in the default cache: Redis in the full stack, so every web process
shares them. A throttled request answers 429 with a Retry-After header (DRF).
"""

from rest_framework.throttling import AnonRateThrottle as DRFAnonRateThrottle
from rest_framework.throttling import SimpleRateThrottle


class AnonRateThrottle(DRFAnonRateThrottle):
    scope = "anon"


class PrincipalRateThrottle(SimpleRateThrottle):
    """One bucket per person, and one per API key (a key is its own principal)."""

    scope = "principal"

    def get_cache_key(self, request, view):
        api_key = getattr(request, "auth", None)
        from apps.domains.models import ApiKey

        if isinstance(api_key, ApiKey):
            ident = f"key:{api_key.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None  # anonymous callers are the AnonRateThrottle's
        return self.cache_format % {"scope": self.scope, "ident": ident}
