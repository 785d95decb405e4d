"""gunicorn settings for the api service (compose/django/start-api.sh)."""

import os

from gunicorn import util
from prometheus_client import multiprocess

from apps.core.server_errors import write_json_error

bind = f"0.0.0.0:{os.environ.get('HEYSH_API_PORT', '8000')}"
workers = int(os.environ.get("HEYSH_API_WORKERS", "3"))
threads = int(os.environ.get("HEYSH_API_THREADS", "2"))
timeout = int(os.environ.get("HEYSH_API_TIMEOUT_SECONDS", "60"))
graceful_timeout = 30
max_requests = 2000
max_requests_jitter = 200
# The scheme header is believed from the same proxies as X-Forwarded-For (settings.TRUSTED_PROXIES).
forwarded_allow_ips = os.environ.get("HEYSH_TRUSTED_PROXIES") or "127.0.0.1,::1"
accesslog = None  # heysh.request logs one JSON line per request, with the user
errorlog = "-"
# limit_request_line (4094), limit_request_fields (100) and limit_request_field_size (8190)
# keep gunicorn's defaults; their 414/431/400 answers come in the API's JSON error shape
# (gunicorn has no setting for its error page, workers call util.write_error at answer time).
util.write_error = write_json_error

# gunicorn's own lines in the same JSON shape as the application's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "apps.core.logging.JsonFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def child_exit(server, worker):
    """A dead worker's live gauges must leave the aggregate /metrics serves."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
