"""Writes compose/grafana/dashboards/*.json (Grafana provisions them from there).

The dashboards are kept as this compact spec so panels stay consistent (one
datasource uid, same units, a grid without gaps); edit here and run
``python compose/grafana/build_dashboards.py``, then
``python compose/grafana/render_preview.py`` for the previews in docs/dashboards/.
tests/ops checks every metric a query names against what the code exports, and every
label a log query names against what Alloy attaches (compose/alloy/config.alloy).

Failing steps lead to their logs and traces: the pipeline dashboard's failure panels link
to the "Logs" dashboard filtered by step, its failed-steps table links each row to the logs
of its request and to its trace in Tempo; every log line's trace_id opens the trace too (the
Loki data source's derived field).
"""

from __future__ import annotations

import json
from pathlib import Path

DATASOURCE = {"type": "prometheus", "uid": "heysh-prometheus"}
LOKI = {"type": "loki", "uid": "heysh-loki"}
TEMPO_UID = "heysh-tempo"
LOGS_UID = "heysh-logs"
# Grafana is served under /grafana/ (GF_SERVER_SERVE_FROM_SUB_PATH): links are relative to it.
LOGS_URL = f"/grafana/d/{LOGS_UID}/heysh-logs"
# A data link into Explore on the Tempo data source (Grafana's "internal" link): the trace by id.
TRACE_LINK = {"url": "", "internal": {"datasourceUid": TEMPO_UID, "datasourceName": "Tempo",
                                      "query": {"queryType": "traceql", "query": "${__value.raw}"}}}
OUT = Path(__file__).resolve().parent / "dashboards"
RATE = "$__rate_interval"


def panel(title, exprs, *, kind="timeseries", unit="short", w=12, h=8, description="", legend=None, stack=False,
          datasource=DATASOURCE, links=(), field_links=None):
    """exprs: list of (expr, legend) pairs. ``links``: panel links (title, url); ``field_links``:
    {field name: [(title, url)]}, data links on a table's columns."""
    field_defaults = {"unit": unit}
    if kind == "timeseries":
        field_defaults["custom"] = {"fillOpacity": 10, "lineWidth": 1, "stacking": {"mode": "normal" if stack else "none"}}
    body = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "fieldConfig": {"defaults": field_defaults, "overrides": [
            {"matcher": {"id": "byName", "options": field},
             "properties": [{"id": "links", "value": [{"title": t, **({"url": u} if isinstance(u, str) else u)} for t, u in field_links[field]]}]}
            for field in field_links or {}
        ]},
        "links": [{"title": t, "url": u} for t, u in links],
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": datasource, "expr": expr, "legendFormat": lf or "__auto",
             **({"instant": True, "format": "table"} if kind == "table" and datasource is DATASOURCE else {}),
             **({"queryType": "instant"} if kind == "table" and datasource is LOKI else {})}
            for i, (expr, lf) in enumerate(exprs)
        ],
        "_w": w,
        "_h": h,
    }
    if kind == "stat":
        body["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "background", "graphMode": "none"}
    if kind == "logs":
        del body["fieldConfig"]["defaults"]["unit"]
        body["options"] = {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True}
    if kind == "timeseries":
        body["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}, "tooltip": {"mode": "multi"}}
    return body


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_w": 24, "_h": 1}


def layout(items):
    """Flow panels left to right, 24 columns wide, rows stacking downwards."""
    x = y = row_height = 0
    panels = []
    for number, item in enumerate(items, start=1):
        w, h = item.pop("_w"), item.pop("_h")
        if x + w > 24 or item["type"] == "row":
            x, y = 0, y + row_height
            row_height = 0
        item["id"] = number
        item["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        panels.append(item)
        x += w
        row_height = max(row_height, h)
        if item["type"] == "row":
            x, y, row_height = 0, y + h, 0
    return panels


def textbox(name, label):
    return {"type": "textbox", "name": name, "label": label, "query": "", "current": {"text": "", "value": ""}, "hide": 0}


def dashboard(uid, title, description, items, tags=(), variables=()):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["heysh", *tags],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["heysh"], "title": "heysh", "asDropdown": True}],
        "panels": layout(items),
    }


API = dashboard(
    "heysh-api", "heysh / API overview",
    "Requests, errors and latency of the Django API (django-prometheus), readiness of its dependencies.",
    [
        row("Traffic and errors"),
        panel("Requests per second by status", [(f"sum by (status) (rate(django_http_responses_total_by_status_total[{RATE}]))", "{{status}}")], unit="reqps", stack=True),
        panel("5xx ratio", [(
            f"sum(rate(django_http_responses_total_by_status_total{{status=~\"5..\"}}[{RATE}])) / clamp_min(sum(rate(django_http_responses_total_by_status_total[{RATE}])), 1e-9)",
            "5xx")], unit="percentunit", w=6),
        panel("API up", [('up{job="api"}', "{{instance}}")], kind="stat", w=6),
        row("Latency"),
        panel("Latency p50 / p95 / p99 (all views)", [
            (f"histogram_quantile({q}, sum by (le) (rate(django_http_requests_latency_seconds_by_view_method_bucket[{RATE}])))", f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)
        ], unit="s"),
        panel("p95 latency by view (top 10)", [(
            f"topk(10, histogram_quantile(0.95, sum by (le, view) (rate(django_http_requests_latency_seconds_by_view_method_bucket[{RATE}]))))",
            "{{view}}")], unit="s"),
        panel("Busiest views", [(f"topk(10, sum by (view, method) (rate(django_http_requests_total_by_view_transport_method_total[{RATE}])))", "{{method}} {{view}}")], unit="reqps"),
        panel("Responses by view and status (last 1h)", [("topk(20, sum by (view, status) (increase(django_http_responses_total_by_status_view_method_total[1h])))", "")], kind="table"),
        row("Database and cache"),
        panel("DB queries per second", [(f"sum by (vendor) (rate(django_db_execute_total[{RATE}]))", "{{vendor}}"), (f"sum(rate(django_db_errors_total[{RATE}]))", "errors")], unit="ops", w=8),
        panel("New DB connections", [(f"sum(rate(django_db_new_connections_total[{RATE}]))", "connections/s")], unit="ops", w=8),
        panel("Cache hit ratio", [(
            f"sum(rate(django_cache_get_hits_total[{RATE}])) / clamp_min(sum(rate(django_cache_get_total[{RATE}])), 1e-9)", "hit ratio")],
            unit="percentunit", w=8),
        row("Readiness (/ready, from the api)"),
        panel("Components up", [("max by (component) (heysh_component_up)", "{{component}}")], kind="stat", w=12),
        panel("Readiness check duration", [("max by (component) (heysh_component_check_seconds)", "{{component}}")], unit="s", w=12),
    ],
    tags=("api",),
)

PIPELINE = dashboard(
    "heysh-pipeline", "heysh / Pipeline & queues",
    "Celery queues and workers (celery_* from task signals), the document pipeline and the beat sweep.",
    [
        row("Queues"),
        panel("Queue length", [("max by (queue_name) (celery_queue_length)", "{{queue_name}}")], w=8),
        panel("Oldest queued step age", [("max by (queue_name) (celery_queue_oldest_message_age_seconds)", "{{queue_name}}")], unit="s", w=8),
        panel("Workers up", [("max by (hostname) (celery_worker_up)", "{{hostname}}"), ('up{job="workers"}', "scrape {{queue}}")], kind="stat", w=5),
        panel("Beat heartbeat age", [("time() - max(heysh_beat_last_run_timestamp_seconds)", "seconds since beat sent")], kind="stat", unit="s", w=3),
        row("Tasks"),
        panel("Tasks started / succeeded / failed / retried", [
            (f"sum(rate(celery_task_started_total[{RATE}]))", "started"),
            (f"sum(rate(celery_task_succeeded_total[{RATE}]))", "succeeded"),
            (f"sum(rate(celery_task_failed_total[{RATE}]))", "failed"),
            (f"sum(rate(celery_task_retried_total[{RATE}]))", "retried"),
        ], unit="ops"),
        panel("Failures by task and exception", [(f"sum by (name, exception) (rate(celery_task_failed_total[{RATE}]))", "{{name}} {{exception}}")], unit="ops",
              links=[("Logs of failing steps", f"{LOGS_URL}?${{__url_time_range}}&var-level=WARNING&var-level=ERROR")]),
        panel("Tasks sent vs received by queue", [
            (f"sum by (queue) (rate(celery_task_sent_total[{RATE}]))", "sent {{queue}}"),
            (f"sum by (queue) (rate(celery_task_received_total[{RATE}]))", "received {{queue}}"),
        ], unit="ops"),
        panel("Task runtime p95 by task", [(f"histogram_quantile(0.95, sum by (le, name) (rate(celery_task_runtime_seconds_bucket[{RATE}])))", "{{name}}")], unit="s"),
        panel("Queue wait p95 by queue", [(f"histogram_quantile(0.95, sum by (le, queue) (rate(celery_task_queue_wait_seconds_bucket[{RATE}])))", "{{queue}}")], unit="s"),
        panel("Failure ratio by task", [(
            f"sum by (name) (rate(celery_task_failed_total[{RATE}])) / clamp_min(sum by (name) (rate(celery_task_started_total[{RATE}])), 1e-9)",
            "{{name}}")], unit="percentunit"),
        row("Documents"),
        panel("Documents by status and domain", [("sum by (domain, status) (heysh_documents)", "{{domain}} {{status}}")], kind="table", w=8),
        panel("Documents finished", [(f"sum by (outcome) (rate(heysh_documents_finished_total[{RATE}]))", "{{outcome}}")], unit="ops", w=8, stack=True),
        panel("Items written", [(f"sum by (kind) (rate(heysh_pipeline_items_written_total[{RATE}]))", "{{kind}}")], unit="ops", w=8),
        panel("Step duration p95 by step", [(f"histogram_quantile(0.95, sum by (le, step) (rate(heysh_step_duration_seconds_bucket[{RATE}])))", "{{step}}")], unit="s"),
        panel("Steps by status", [("sum by (step, status) (heysh_steps)", "{{step}} {{status}}")], stack=True),
        row("Failing steps: logs and traces (Loki, Tempo)"),
        panel("Failed step attempts (last 24 h)", [(
            'sum by (step, run_id, request_id, trace_id) (count_over_time({stack="heysh", level="WARNING"} |~ `step \\w+ (attempt \\d+ failed|failed permanently)` [24h]))',
            "")], kind="table", datasource=LOKI, w=24,
            description="One row per step, run and request that logged a failed attempt; the run's request id and trace id open its logs and its trace.",
            field_links={
                "request_id": [("Logs of this request", f"{LOGS_URL}?${{__url_time_range}}&var-request_id=${{__value.raw}}")],
                "run_id": [("Logs of this run", f"{LOGS_URL}?${{__url_time_range}}&var-run_id=${{__value.raw}}")],
                "trace_id": [("Trace in Tempo", TRACE_LINK)],
            }),
        row("Recovery"),
        panel("Sweep recoveries by reason", [(f"sum by (reason) (increase(heysh_sweep_recovered_total[{RATE}]))", "{{reason}}")], w=8),
        panel("Steps with an expired lease", [("sum by (step) (heysh_steps_lease_expired)", "{{step}}")], w=8),
        panel("Oldest active run", [("max(heysh_runs_oldest_active_age_seconds)", "age")], kind="stat", unit="s", w=8),
    ],
    tags=("celery", "pipeline"),
)

SEARCH = dashboard(
    "heysh-search", "heysh / Search",
    "Hybrid search latency and results by mode, and the API view that serves it.",
    [
        row("Search"),
        panel("Searches per second by mode", [(f"sum by (mode) (rate(heysh_search_latency_seconds_count[{RATE}]))", "{{mode}}")], unit="reqps"),
        panel("Search latency p50 / p95 / p99", [
            (f"histogram_quantile({q}, sum by (le) (rate(heysh_search_latency_seconds_bucket[{RATE}])))", f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)
        ], unit="s"),
        panel("p95 latency by mode", [(f"histogram_quantile(0.95, sum by (le, mode) (rate(heysh_search_latency_seconds_bucket[{RATE}])))", "{{mode}}")], unit="s"),
        panel("Average results per search", [(
            f"sum by (mode) (rate(heysh_search_results_sum[{RATE}])) / clamp_min(sum by (mode) (rate(heysh_search_results_count[{RATE}])), 1e-9)",
            "{{mode}}")]),
        panel("Searches with no result", [(
            f"sum(rate(heysh_search_results_bucket{{le=\"0.0\"}}[{RATE}])) / clamp_min(sum(rate(heysh_search_results_count[{RATE}])), 1e-9)",
            "empty")], unit="percentunit", w=8),
        panel("Search view p95 (HTTP)", [(
            f"histogram_quantile(0.95, sum by (le, view) (rate(django_http_requests_latency_seconds_by_view_method_bucket{{view=~\".*search.*\"}}[{RATE}])))",
            "{{view}}")], unit="s", w=8),
        panel("Vector store up", [('max(heysh_component_up{component="vector_stores.default"})', "vectors"), ('max(heysh_component_up{component="graph_stores.default"})', "graph")], kind="stat", w=8),
    ],
    tags=("search",),
)

STORES = dashboard(
    "heysh-stores", "heysh / Data stores",
    "PostgreSQL (via the api), Dragonfly, Neo4j (readiness only: Community has no metrics endpoint), Weaviate, MinIO, Vault; projection drift.",
    [
        row("Health"),
        panel("Components up (from /ready)", [("max by (component) (heysh_component_up)", "{{component}}")], kind="stat", w=12),
        panel("Scrape targets up", [("up", "{{job}} {{instance}}")], kind="stat", w=12),
        panel("Readiness check latency", [("max by (component) (heysh_component_check_seconds)", "{{component}}")], unit="s"),
        panel("Projection drift repaired / failed", [(f"sum by (backend, action) (increase(heysh_projection_drift_total[{RATE}]))", "{{backend}} {{action}}")]),
        row("PostgreSQL (django-prometheus)"),
        panel("Queries and errors", [(f"sum(rate(django_db_execute_total[{RATE}]))", "queries"), (f"sum(rate(django_db_errors_total[{RATE}]))", "errors")], unit="ops", w=8),
        panel("Query duration p95", [(f"histogram_quantile(0.95, sum by (le) (rate(django_db_query_duration_seconds_bucket[{RATE}])))", "p95")], unit="s", w=8),
        panel("Webhook deliveries", [(f"sum by (outcome) (rate(heysh_webhook_deliveries_total[{RATE}]))", "{{outcome}}")], unit="ops", w=8),
        row("Dragonfly"),
        panel("Connected clients", [('dragonfly_connected_clients{job="dragonfly"}', "clients")], w=12),
        panel("Memory used", [('dragonfly_memory_used_bytes{job="dragonfly"}', "used")], unit="bytes", w=12),
        row("Weaviate"),
        panel("Objects", [('sum(object_count{job="weaviate"})', "objects")], w=8),
        panel("Batch import p95", [(f"histogram_quantile(0.95, sum by (le) (rate(batch_durations_ms_bucket{{job=\"weaviate\"}}[{RATE}])))", "p95")], unit="ms", w=8),
        panel("Memory (Go runtime)", [('go_memstats_sys_bytes{job="weaviate"}', "sys")], unit="bytes", w=8),
        row("MinIO"),
        panel("Usable capacity", [
            ('max(minio_cluster_capacity_usable_free_bytes{job="minio"})', "free"),
            ('max(minio_cluster_capacity_usable_total_bytes{job="minio"})', "total"),
        ], unit="bytes", w=12),
        panel("S3 requests and errors", [
            (f'sum by (api) (rate(minio_s3_requests_total{{job="minio"}}[{RATE}]))', "{{api}}"),
            (f'sum(rate(minio_s3_requests_errors_total{{job="minio"}}[{RATE}]))', "errors"),
        ], unit="reqps", w=12),
    ],
    tags=("stores",),
)

LOGS = dashboard(
    LOGS_UID, "heysh / Logs",
    "Every container's JSON log lines (Loki, shipped by Alloy), narrowed by request, run, trace, step or level; a line's trace_id opens its trace.",
    [
        row("Log lines"),
        panel("Lines by service and level", [(
            'sum by (service, level) (count_over_time({stack="heysh", level=~"${level:regex}"} | request_id=~"${request_id:regex}.*" | run_id=~"${run_id:regex}.*" | trace_id=~"${trace_id:regex}.*" | step=~"${step:regex}.*" [$__auto]))',
            "{{service}} {{level}}")], datasource=LOKI, w=24, h=6, stack=True),
        panel("Logs", [(
            '{stack="heysh", level=~"${level:regex}"} | request_id=~"${request_id:regex}.*" | run_id=~"${run_id:regex}.*" | trace_id=~"${trace_id:regex}.*" | step=~"${step:regex}.*"',
            "")], kind="logs", datasource=LOKI, w=24, h=16),
    ],
    tags=("logs",),
    variables=(
        textbox("request_id", "request id"), textbox("run_id", "run id"), textbox("trace_id", "trace id"), textbox("step", "step"),
        {"type": "custom", "name": "level", "label": "level", "query": "DEBUG,INFO,WARNING,ERROR,CRITICAL", "multi": True, "includeAll": True,
         "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "hide": 0},
    ),
)

CONTAINER = 'container_label_com_docker_compose_service!=""'
HOST = dashboard(
    "heysh-host", "heysh / Host and containers",
    "The host (node-exporter) and every compose container (cAdvisor): CPU, memory, disk and network.",
    [
        row("Host"),
        panel("CPU busy", [(f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{RATE}]))', "busy")], unit="percentunit", w=8),
        panel("Memory available", [("node_memory_MemAvailable_bytes", "available"), ("node_memory_MemTotal_bytes", "total")], unit="bytes", w=8),
        panel("Load (1 min) per core", [('node_load1 / count without (cpu, mode) (node_cpu_seconds_total{mode="idle"})', "load1/core")], w=8),
        panel("Disk space free", [('min by (mountpoint) (node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay"})', "{{mountpoint}}")], unit="percentunit"),
        panel("Network", [
            (f'sum(rate(node_network_receive_bytes_total{{device!="lo"}}[{RATE}]))', "received"),
            (f'sum(rate(node_network_transmit_bytes_total{{device!="lo"}}[{RATE}]))', "sent"),
        ], unit="Bps"),
        row("Containers"),
        panel("CPU by container", [(f"sum by (container_label_com_docker_compose_service) (rate(container_cpu_usage_seconds_total{{{CONTAINER}}}[{RATE}]))", "{{container_label_com_docker_compose_service}}")], unit="percentunit", stack=True),
        panel("Memory (working set) by container", [(f"sum by (container_label_com_docker_compose_service) (container_memory_working_set_bytes{{{CONTAINER}}})", "{{container_label_com_docker_compose_service}}")], unit="bytes", stack=True),
        panel("Network received by container", [(f"sum by (container_label_com_docker_compose_service) (rate(container_network_receive_bytes_total{{{CONTAINER}}}[{RATE}]))", "{{container_label_com_docker_compose_service}}")], unit="Bps"),
        panel("Container restarts (last 1 h)", [(f"sum by (container_label_com_docker_compose_service) (changes(container_start_time_seconds{{{CONTAINER}}}[1h]))", "{{container_label_com_docker_compose_service}}")], kind="table"),
    ],
    tags=("host",),
)

DASHBOARDS = {"api-overview": API, "pipeline-queues": PIPELINE, "search": SEARCH, "data-stores": STORES, "logs": LOGS, "host-containers": HOST}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, body in DASHBOARDS.items():
        (OUT / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
        print(f"wrote {OUT / name}.json ({len(body['panels'])} panels)")


if __name__ == "__main__":
    main()
