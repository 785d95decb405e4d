"""The Celery application: three queues, durable settings (DESIGN §6).

Tasks live in the top-level ``tasks`` package and take ids, never objects. The
database is the workflow history; these settings only make the broker's part as
safe as it can be: acknowledge after the work, redeliver when a worker dies, take
one message at a time.
"""

import os

from celery import Celery, signals
from kombu import Queue

from apps.core.queues import LONGEST_HARD_LIMIT, QUEUES, TIME_LIMITS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heysh.settings")

app = Celery("heysh")

__all__ = ["LONGEST_HARD_LIMIT", "QUEUES", "TIME_LIMITS", "app"]


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
    # No task_routes: each workflow step's queue and priority come from its spec
    # (apps.core.workflows), set on the generated task and on every message sent.
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


@signals.worker_process_init.connect(dispatch_uid="heysh.warm_embedder")
def _warm_embedder(**kwargs):
    """An ai worker process loads the embedding model when it starts, not inside its first task.

    In each pool child (after the fork: a model session does not survive one); a worker that
    consumes no ai queue never loads it.
    """
    consumed = app.amqp.queues.consume_from or app.amqp.queues
    if "ai" in consumed:
        from apps.core.backends import embedders  # needs Django set up, which the worker did by now

        embedders["default"].warm_in_background(documents=True)


# Task metrics, request-id propagation, worker/beat metrics servers, JSON logging.
import apps.cms.celery_metrics  # noqa: E402,F401
