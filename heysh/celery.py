"""The Celery application: three queues, durable settings (DESIGN §6).

Tasks live in the top-level ``tasks`` package and take ids, never objects. The
database is the workflow history; these settings only make the broker's part as
safe as it can be: acknowledge after the work, redeliver when a worker dies, take
one message at a time.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heysh.settings")

app = Celery("heysh")

QUEUES = ("ai", "storage", "general")

# Message priority of the pipeline's downstream steps (indexing, notification). On Redis 0 is
# the highest and the default; kombu keeps one list per priority step (0, 3, 6, 9) and a worker
# takes from the highest non-empty one. So a worker serves the cheap upstream steps of new
# documents (extraction) before the model-bound indexing: during a bulk load the upstream
# burst is over quickly and indexing then runs full batches instead of competing with it.
# The embedded SQLAlchemy broker ignores priorities (plain FIFO).
DOWNSTREAM_PRIORITY = 6

# Hard limits per queue; soft limits raise inside the task first so it can record why.
TIME_LIMITS = {"ai": (540, 600), "storage": (240, 300), "general": (240, 300)}
LONGEST_HARD_LIMIT = max(hard for _, hard in TIME_LIMITS.values())


@app.on_after_configure.connect
def _broker_transport_options(sender, **kwargs):
    # A message not acked within visibility_timeout is redelivered: keep it above every hard
    # limit. It is a Redis transport option; the embedded SQLAlchemy broker passes every
    # transport option to create_engine(), which rejects it (no message could be sent).
    if str(sender.conf.broker_url).split("://", 1)[0] in ("redis", "rediss"):
        sender.conf.broker_transport_options = {"visibility_timeout": LONGEST_HARD_LIMIT * 2}


app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="general",
    task_routes={
        "tasks.pipeline.extract": {"queue": "ai"},
        "tasks.pipeline.index": {"queue": "ai", "priority": DOWNSTREAM_PRIORITY},
        "tasks.pipeline.notify": {"queue": "general", "priority": DOWNSTREAM_PRIORITY},
        "tasks.pipeline.graph": {"queue": "storage"},
        "tasks.pipeline.*": {"queue": "general"},
        "tasks.bootstrap.*": {"queue": "general"},
        "tasks.maintenance.*": {"queue": "general"},
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_time_limit=LONGEST_HARD_LIMIT,
    task_soft_time_limit=LONGEST_HARD_LIMIT - 60,
    broker_connection_retry_on_startup=True,
    # Parsers can leak memory on hostile input: recycle worker processes regularly.
    worker_max_tasks_per_child=200,
    worker_send_task_events=True,
    task_send_sent_event=True,
    beat_scheduler="django_celery_beat.schedulers:DatabaseScheduler",
    timezone="UTC",
    # tasks/__init__.py imports every task module.
    imports=("tasks",),
)

# Task metrics, request-id propagation, worker/beat metrics servers, JSON logging.
import apps.core.celery_metrics  # noqa: E402,F401
