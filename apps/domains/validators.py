"""Field validators of the domains app."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.netguard import URL_SHAPE_MESSAGE, check_literal_host, url_shape_ok
from apps.core.workflows.errors import PermanentError


def validate_webhook_url(url: str) -> None:
    """A webhook must be an http(s) URL without credentials that does not name a private,
    loopback or link-local address (unless ``WEBHOOK_ALLOW_PRIVATE``). Host names are resolved
    and vetted again at every delivery: a name can point elsewhere later."""
    if not url:
        return
    try:
        check_literal_host(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
    except PermanentError as exc:
        message = exc.message.replace("The URL", "The webhook URL").replace("can be fetched", "can receive webhooks")
        raise ValidationError(message, code=exc.code) from None
    if not url_shape_ok(url):
        raise ValidationError(URL_SHAPE_MESSAGE, code="invalid_url")
