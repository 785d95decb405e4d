"""Log records carry the request/run/step/domain/user context and never a secret.

``ContextFilter`` (on the console handler in settings.LOGGING) stamps every record
with the context of ``apps.core.context`` plus the Celery task id/name when a task
runs, the trace and span ids of the current span when tracing is on (``-`` else),
and the authenticated user's id once the request has been authenticated.
The formatters redact credentials in the message, its arguments, extra fields and
exception text.
"""

from __future__ import annotations

import contextvars
import logging
import re

from celery import current_task
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from apps.core import context, tracing

# Values that look like credentials never reach a log line, whatever logged them.
SECRET_PATTERN = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization)(\"?\s*[:=]\s*\"?)((?:bearer|api-key|basic)\s+)?([^\s\"',;&]+)"
)
URL_CREDENTIALS = re.compile(r"(\w+://[^:/\s@]*:)([^@\s/]+)(@)")
SECRET_KEY_NAMES = re.compile(r"(?i)password|passwd|secret|token|api[_-]?key|authorization|credential")

# The request being served, so the user id can be read once authentication has run
# (DRF authenticates inside the view, after every middleware has been entered).
current_request: contextvars.ContextVar = contextvars.ContextVar("current_request", default=None)


def redact(text: str) -> str:
    text = SECRET_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}***", text)
    return URL_CREDENTIALS.sub(r"\1***\3", text)


def redact_value(key: str, value):
    if SECRET_KEY_NAMES.search(key) and value not in (None, "", "-"):
        return "***"
    if isinstance(value, str):
        return redact(value)
    return value


def current_user_id() -> str | None:
    """The authenticated user's id of the current request, without forcing authentication."""
    request = current_request.get()
    if request is None:
        return None
    user = request.__dict__.get("user")
    wrapped = getattr(user, "_wrapped", user)  # SimpleLazyObject: only if already evaluated
    if wrapped is None or type(wrapped).__name__ == "object" or not getattr(wrapped, "is_authenticated", False):
        return None
    api_key = getattr(wrapped, "api_key", None)
    if api_key is not None:
        return f"api-key:{getattr(api_key, 'prefix', '?')}"
    pk = getattr(wrapped, "pk", None)
    return None if pk is None else str(pk)


def _current_task():
    try:
        task = current_task._get_current_object()
    except Exception:
        return None
    if task is None or getattr(task.request, "id", None) is None:
        return None
    return task


STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in context.FIELDS.items():
            setattr(record, name, var.get())
        if record.user_id == "-":
            record.user_id = current_user_id() or "-"
        task = _current_task()
        record.task_id = task.request.id if task else "-"
        record.task_name = task.name if task else "-"
        record.trace_id, record.span_id = tracing.ids()
        if isinstance(record.msg, str):
            # Merge the arguments first: "password=%s" % secret is only recognisable merged.
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: keep the template, drop the arguments
                message = f"{record.msg} (unformattable arguments)"
            record.msg, record.args = redact(message), ()
        for key, value in list(record.__dict__.items()):
            if key not in STANDARD_ATTRS and key not in context.FIELDS:
                record.__dict__[key] = redact_value(key, value)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line; exception and stack text redacted too."""

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class PlainFormatter(logging.Formatter):
    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))
