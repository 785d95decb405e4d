"""One JSON error shape for every API failure.

    {"error": {"code": "not_found", "message": "Not found.", "detail": {...}, "request_id": "..."}}

``code`` is stable and machine-readable, ``message`` is for people, ``detail`` holds
per-field validation messages when there are any.

Services raise the framework-free errors of ``apps.core.exceptions``; the HTTP status
for each kind of refusal is decided here and nowhere else.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from apps.core import context
from apps.core.exceptions import ServiceError

STATUS_FOR_KIND = {
    "invalid": status.HTTP_400_BAD_REQUEST,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    "conflict": status.HTTP_409_CONFLICT,
    "too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "unsupported": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
}


def status_for(exc: ServiceError) -> int:
    return STATUS_FOR_KIND[exc.kind]


def _message(detail) -> str:
    if isinstance(detail, list):
        return _message(detail[0]) if detail else "Invalid input."
    if isinstance(detail, dict):
        # simplejwt's errors are {"detail": ..., "code": ..., "messages": [...]}
        return _message(detail["detail"]) if "detail" in detail else "Invalid input."
    return str(detail)


def _code(exc) -> str:
    if isinstance(exc.detail, dict) and "code" in exc.detail:
        # simplejwt's {"detail", "code"}: the code is the value ("user_inactive"), not its default code
        return str(exc.detail["code"])
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
    if isinstance(exc, ServiceError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.detail), status=status_for(exc))
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
        detail = None
        message = _message(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = error_body(code, message, detail)
    return response


def json_error_view(code: str, message: str, http_status: int):
    """A Django-level error handler (handler400/403/404/500) answering the same JSON shape."""

    def view(request, exception=None):
        if isinstance(exception, RequestDataTooBig):
            limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
            return JsonResponse(error_body("too_large", f"The request body is larger than {limit_mb:g} MB."), status=413)
        return JsonResponse(error_body(code, message), status=http_status)

    return view
