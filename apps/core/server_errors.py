"""The answers gunicorn writes itself, before Django sees a request (a request line over
``limit_request_line``, too many or too large headers, a malformed request), in the one JSON
error shape of ``apps.core.errors`` instead of gunicorn's HTML page.

gunicorn has no setting for that page: ``compose/django/gunicorn.conf.py`` replaces
``gunicorn.util.write_error``, which every worker class calls for these answers. Standard
library only: gunicorn's master loads this before Django is set up."""

from __future__ import annotations

import json
import uuid

from gunicorn.util import write_nonblock

CODE_FOR_STATUS = {
    400: "bad_request",
    403: "permission_denied",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "server_error",
    501: "not_implemented",
}
MESSAGE_FOR_STATUS = {
    400: "Bad request: the server could not parse it.",
    414: "The request line (method, path and query) is longer than the server accepts.",
    431: "The request headers are too many or too large.",
    500: "Internal server error.",
}
MAX_DETAIL_CHARS = 300


def error_page(status_int: int, reason: str, mesg: str) -> bytes:
    """The whole HTTP response for one of gunicorn's own errors."""
    body = {
        "code": CODE_FOR_STATUS.get(status_int, "error"),
        "message": MESSAGE_FOR_STATUS.get(status_int, f"{reason}."),
        "request_id": uuid.uuid4().hex,
    }
    if mesg:
        body["detail"] = {"server": [mesg[:MAX_DETAIL_CHARS]]}
    payload = json.dumps({"error": body}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode("latin-1")
    return head + payload


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``."""
    write_nonblock(sock, error_page(status_int, reason, mesg))
