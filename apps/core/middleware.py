import logging
import re
import time
import uuid

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from simple_history.models import HistoricalRecords

from apps.core import context, tracing
from apps.core.client_address import from_trusted_proxy
from apps.core.errors import error_body
from apps.core.logging import current_request

VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_logger = logging.getLogger("heysh.request")
# Probes and scrapes would drown the access log: logged at DEBUG.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


class RequestIdMiddleware:
    """Accept a sane incoming X-Request-ID or make one; echo it and bind it for logs and tasks.

    One access line per request (method, path, status, duration, user) is logged on
    ``heysh.request`` after the view ran, so it carries the authenticated user's id.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        tracing.annotate(request_id=rid)  # the request's trace is found by its request id too
        started = time.perf_counter()
        token = current_request.set(request)
        try:
            with context.bound(request_id=rid):
                response = self.get_response(request)
                level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
                access_logger.log(
                    level, "%s %s %s", request.method, request.path, response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
        finally:
            current_request.reset(token)
        response["X-Request-ID"] = rid
        return response


class _HistoryRequest:
    """The request as django-simple-history sees it: its user is a real User or nobody.

    API-key requests carry an ``ApiKeyPrincipal`` as ``request.user``; a history row can
    only point at a User, so those changes are recorded without a user instead of failing.
    """

    def __init__(self, request):
        self._request = request

    @property
    def user(self):
        user = getattr(self._request, "user", None)
        return user if isinstance(user, AbstractBaseUser) else AnonymousUser()

    def __getattr__(self, name):
        return getattr(self._request, name)


class HistoryRequestMiddleware:
    """simple_history's HistoryRequestMiddleware, safe for API-key principals."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        HistoricalRecords.context.request = _HistoryRequest(request)
        try:
            return self.get_response(request)
        finally:
            try:
                del HistoricalRecords.context.request
            except AttributeError:
                pass


class ForwardedProtoMiddleware:
    """Drop ``X-Forwarded-Proto`` unless a trusted proxy sent the request.

    Django believes ``SECURE_PROXY_SSL_HEADER`` from anyone; a client talking to the app
    directly could claim HTTPS and get secure-only behaviour (no redirect, ``is_secure()``)
    over plain HTTP. Only ``HEYSH_TRUSTED_PROXIES`` may vouch for the scheme.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_FORWARDED_PROTO" in request.META and not from_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


class RefuseNulBytesMiddleware:
    """A NUL byte in the query string cannot reach PostgreSQL (it refuses NUL in text): the
    request is answered 400 in the one JSON error shape before any view sees it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return JsonResponse(error_body("bad_request", "The query string contains a NUL byte."), status=400)
        return self.get_response(request)


class ApiTrailingSlashMiddleware:
    """API routes answer with or without their trailing slash. Django's APPEND_SLASH can only
    redirect, which loses a POST's body (and is an error page under DEBUG); here the other
    spelling is served directly when only it resolves."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith("/api/") and not _resolves(path):
            other = path[:-1] if path.endswith("/") else f"{path}/"
            if _resolves(other):
                request.path_info = other
                request.path = f"{request.META.get('SCRIPT_NAME', '')}{other}"
        return self.get_response(request)


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True
