import logging
import re

from apps.core import context

# Values that look like credentials never reach a log line, whatever logged them.
SECRET_PATTERN = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization)(\"?\s*[:=]\s*\"?)([^\s\"',;&]+)"
)
URL_CREDENTIALS = re.compile(r"(\w+://[^:/\s]+:)([^@\s]+)(@)")


def redact(text: str) -> str:
    text = SECRET_PATTERN.sub(r"\1\2***", text)
    return URL_CREDENTIALS.sub(r"\1***\3", text)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in context.FIELDS.items():
            setattr(record, name, var.get())
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args) if isinstance(record.args, tuple) else record.args
        return True
