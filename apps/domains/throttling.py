"""Rate limits per user / API key and per anonymous address.

Counters live in the default cache: Redis in the full stack, so every web process
shares them. A throttled request answers 429 with a Retry-After header (DRF).
An anonymous caller is known by ``apps.core.client_address.client_ip``, the address
login lockout (django-axes) keys on too: X-Forwarded-For counts only from trusted proxies.
"""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle as DRFAnonRateThrottle
from rest_framework.throttling import SimpleRateThrottle

from apps.core.client_address import client_ip
from apps.domains.models import ApiKey


class RatesFromSettings:
    """Read the rate when the request arrives, not when the class is imported.

    DRF copies ``DEFAULT_THROTTLE_RATES`` onto ``SimpleRateThrottle.THROTTLE_RATES`` at
    import, so a changed setting (``override_settings``, a reloaded config) would be
    ignored. ``api_settings`` itself is reloaded on ``setting_changed``.
    """

    def get_rate(self):
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r} in DEFAULT_THROTTLE_RATES.")


class AnonRateThrottle(RatesFromSettings, DRFAnonRateThrottle):
    scope = "anon"

    def get_ident(self, request):
        # DRF's own get_ident believes the whole X-Forwarded-For unless NUM_PROXIES is set.
        return client_ip(request)


class PrincipalRateThrottle(RatesFromSettings, SimpleRateThrottle):
    """One bucket per person, and one per API key (a key is its own principal)."""

    scope = "principal"

    def get_cache_key(self, request, view):
        api_key = getattr(request, "auth", None)
        if isinstance(api_key, ApiKey):
            ident = f"key:{api_key.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None  # anonymous callers are the AnonRateThrottle's
        return self.cache_format % {"scope": self.scope, "ident": ident}
