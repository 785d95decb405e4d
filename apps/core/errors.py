"""One JSON error shape for every API failure.

    {"error": {"code": "not_found", "message": "Not found.", "detail": {...}, "request_id": "..."}}

``code`` is stable and machine-readable, ``message`` is for people, ``detail`` holds
per-field validation messages when there are any.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core import context


class ServiceError(exceptions.APIException):
    """A business rule refused the request; services raise it, views turn it into a 4xx."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None, detail: dict | None = None):
        super().__init__(message, code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.extra = detail or {}


def _message(detail) -> str:
    if isinstance(detail, list):
        return _message(detail[0]) if detail else "Invalid input."
    if isinstance(detail, dict):
        # simplejwt's errors are {"detail": ..., "code": ..., "messages": [...]}
        return _message(detail["detail"]) if "detail" in detail else "Invalid input."
    return str(detail)


def _code(exc) -> str:
    codes = exc.get_codes()
    if isinstance(codes, dict):
        codes = codes.get("code", codes.get("detail", "error"))
    if isinstance(codes, list):
        codes = codes[0] if codes else "error"
    return codes if isinstance(codes, str) else "error"


def error_body(code: str, message: str, detail=None) -> dict:
    body = {"code": code, "message": message, "request_id": context.request_id.get()}
    if detail:
        body["detail"] = detail
    return {"error": body}


def exception_handler(exc, ctx):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, ctx)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        code, detail = "invalid", exc.detail
        message = _message(exc.detail) if not isinstance(exc.detail, dict) else "Invalid input: " + ", ".join(
            f"{field}: {_message(errors)}" for field, errors in exc.detail.items()
        )
    else:
        code = _code(exc) if isinstance(exc, exceptions.APIException) else "error"
        detail = getattr(exc, "extra", None)
        message = _message(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = error_body(code, message, detail)
    return response


def json_error_view(code: str, message: str, http_status: int):
    """A Django-level error handler (handler400/403/404/500) answering the same JSON shape."""

    def view(request, exception=None):
        from django.http import JsonResponse

        return JsonResponse(error_body(code, message), status=http_status)

    return view
