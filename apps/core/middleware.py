import re
import uuid

from apps.core import context

VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Accept a sane incoming X-Request-ID or make one; echo it and bind it for logs and tasks."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        with context.bound(request_id=rid):
            response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response
