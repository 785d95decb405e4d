"""What a locked-out login attempt is answered with (django-axes' ``AXES_LOCKOUT_CALLABLE``).

The API answers in the one JSON error shape, 429 ``locked_out`` with a Retry-After of
the cool-off; the admin's login form gets the same sentence as a plain page. Axes keys
failures on (username, client address); the address comes from
``apps.core.client_address`` like the throttles', so a forged X-Forwarded-For does not
open a fresh counter.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from apps.core.errors import error_body


def lockout_message() -> str:
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return (
        f"Too many failed login attempts for this account from this address; "
        f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body("locked_out", lockout_message()), status=429)
    else:
        response = HttpResponse(lockout_message(), content_type="text/plain; charset=utf-8", status=429)
    response["Retry-After"] = retry_after
    return response
