"""What a service raises when a business rule refuses a request.

Plain Python: no HTTP, no DRF. Services, selectors, the admin, tasks and management
commands all raise and catch these; only the API's exception handler
(``apps.core.errors``) turns a ``kind`` into an HTTP status.

A bare ``ServiceError`` means the input is invalid; the subclasses say why else a
request is refused. ``code`` is stable and machine-readable, ``message`` is for
people, ``detail`` holds per-field messages (``{"slug": ["Taken."]}``) or other
structured context when there is any.
"""

from __future__ import annotations


class ServiceError(Exception):
    """The input is invalid."""

    kind = "invalid"
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, detail: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.detail = detail or {}


class NotFound(ServiceError):
    """The object does not exist, or the caller may not know it does."""

    kind = "not_found"
    default_code = "not_found"


class Forbidden(ServiceError):
    """The caller may see the object but not do this to it."""

    kind = "forbidden"
    default_code = "permission_denied"


class Conflict(ServiceError):
    """The request is valid but the object's current state refuses it."""

    kind = "conflict"
    default_code = "conflict"


class TooLarge(ServiceError):
    """The submitted content exceeds a size limit."""

    kind = "too_large"
    default_code = "too_large"


class Unsupported(ServiceError):
    """The submitted content is of a type that cannot be handled."""

    kind = "unsupported"
    default_code = "unsupported_type"
