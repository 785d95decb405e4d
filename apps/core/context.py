"""Per-request / per-task context carried into every log line (request id, run id, domain)."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

request_id = contextvars.ContextVar("request_id", default="-")
run_id = contextvars.ContextVar("run_id", default="-")
step = contextvars.ContextVar("step", default="-")
domain = contextvars.ContextVar("domain", default="-")
user_id = contextvars.ContextVar("user_id", default="-")

FIELDS = {"request_id": request_id, "run_id": run_id, "step": step, "domain": domain, "user_id": user_id}


@contextmanager
def bound(**values):
    tokens = [(FIELDS[name], FIELDS[name].set(str(value))) for name, value in values.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
