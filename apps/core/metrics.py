"""Every Prometheus metric heysh exports, defined in one place.

Names follow the common celery-exporter ones (``celery_task_*``, ``celery_queue_length``,
``celery_worker_up``) so shared dashboards work. Dashboards and alert rules in
``compose/`` may only reference names defined here (a test cross-checks them).
Under gunicorn and prefork Celery workers, set PROMETHEUS_MULTIPROC_DIR so every
process's samples are aggregated.
"""

from prometheus_client import Counter, Gauge, Histogram

# --- Celery, from task signals ---------------------------------------------------
TASK_LABELS = ["name", "queue"]
celery_task_sent_total = Counter("celery_task_sent_total", "Tasks sent.", TASK_LABELS)
celery_task_received_total = Counter("celery_task_received_total", "Tasks received by a worker.", TASK_LABELS)
celery_task_started_total = Counter("celery_task_started_total", "Tasks started.", TASK_LABELS)
celery_task_succeeded_total = Counter("celery_task_succeeded_total", "Tasks succeeded.", TASK_LABELS)
celery_task_failed_total = Counter("celery_task_failed_total", "Tasks failed.", TASK_LABELS + ["exception"])
celery_task_retried_total = Counter("celery_task_retried_total", "Tasks retried.", TASK_LABELS)
celery_task_runtime_seconds = Histogram(
    "celery_task_runtime_seconds", "Task run time.", TASK_LABELS,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
celery_task_queue_wait_seconds = Histogram(
    "celery_task_queue_wait_seconds", "Time from send to start.", TASK_LABELS,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
)
celery_queue_length = Gauge("celery_queue_length", "Messages waiting in the queue.", ["queue_name"], multiprocess_mode="max")
celery_queue_oldest_message_age_seconds = Gauge(
    "celery_queue_oldest_message_age_seconds", "Age of the oldest queued step.", ["queue_name"], multiprocess_mode="max"
)
celery_worker_up = Gauge("celery_worker_up", "1 while a worker of this queue set runs.", ["hostname"], multiprocess_mode="max")
heysh_beat_last_run_timestamp_seconds = Gauge(
    "heysh_beat_last_run_timestamp_seconds", "When the beat sweep last ran.", multiprocess_mode="max"
)

# --- Pipeline and product ----------------------------------------------------------
heysh_documents = Gauge("heysh_documents", "Documents by status.", ["domain", "status"], multiprocess_mode="max")
heysh_step_duration_seconds = Histogram(
    "heysh_step_duration_seconds", "Pipeline step duration.", ["step", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
heysh_pipeline_items_written_total = Counter(
    "heysh_pipeline_items_written_total", "Chunks, entities, relations, mentions and vectors written.", ["kind"]
)
heysh_documents_finished_total = Counter("heysh_documents_finished_total", "Documents finished.", ["outcome"])
heysh_sweep_recovered_total = Counter("heysh_sweep_recovered_total", "Steps re-enqueued by the sweep.", ["reason"])
heysh_sweep_errors_total = Counter(
    "heysh_sweep_errors_total", "Step rows or workflow hooks the sweep could not recover (logged, skipped).", ["workflow"]
)
heysh_step_failure_handler_errors_total = Counter(
    "heysh_step_failure_handler_errors_total", "Failure handlers that raised; the step was failed without them.", ["step"]
)
heysh_projection_drift_total = Counter(
    "heysh_projection_drift_total", "Projection drift found and repaired.", ["backend", "action"]
)
heysh_search_latency_seconds = Histogram(
    "heysh_search_latency_seconds", "Search latency.", ["mode"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
heysh_search_results = Histogram("heysh_search_results", "Chunks returned per search.", ["mode"], buckets=(0, 1, 5, 10, 20, 50, 100))
heysh_webhook_deliveries_total = Counter("heysh_webhook_deliveries_total", "Webhook deliveries.", ["outcome"])

# --- Readiness and workflow state, collected at scrape time (apps.cms.exporter) -------
# The gauges below (and heysh_documents, celery_queue_length,
# celery_queue_oldest_message_age_seconds) are the catalogue for what the platform
# collector computes from the database and the broker on every scrape of the API's
# /metrics; nothing sets them in-process.
heysh_component_up = Gauge("heysh_component_up", "1 when the /ready check of a component passes.", ["component"], multiprocess_mode="max")
heysh_component_check_seconds = Gauge(
    "heysh_component_check_seconds", "Duration of the component's /ready check.", ["component"], multiprocess_mode="max"
)
heysh_steps = Gauge("heysh_steps", "Pipeline steps by step and status.", ["step", "status"], multiprocess_mode="max")
heysh_steps_lease_expired = Gauge(
    "heysh_steps_lease_expired", "Running steps whose lease has expired (the sweep should recover them).", ["step"],
    multiprocess_mode="max",
)
heysh_runs_oldest_active_age_seconds = Gauge(
    "heysh_runs_oldest_active_age_seconds", "Age of the oldest queued or running processing run.", multiprocess_mode="max"
)
