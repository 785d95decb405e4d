"""Grafana dashboards and Prometheus rules only name metrics that something exports."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import prometheus_client
import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
GRAFANA = ROOT / "compose" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
ALERTS = ROOT / "compose" / "prometheus" / "alerts.yml"
PROMETHEUS = ROOT / "compose" / "prometheus" / "prometheus.yml"

# Metrics produced by services heysh scrapes but does not define. Names follow each
# project's documentation (MinIO v2 cluster metrics, Weaviate PROMETHEUS_MONITORING,
# Dragonfly's /metrics); they could not be checked against live servers here.
EXTERNAL_METRICS = {
    "up": "Prometheus: 1 when a scrape target answered",
    "object_count": "Weaviate: objects per class/shard",
    "batch_durations_ms_bucket": "Weaviate: batch import duration histogram",
    "go_memstats_sys_bytes": "Go runtime (Weaviate)",
    "minio_cluster_capacity_usable_free_bytes": "MinIO v2 cluster",
    "minio_cluster_capacity_usable_total_bytes": "MinIO v2 cluster",
    "minio_s3_requests_total": "MinIO v2 cluster",
    "minio_s3_requests_errors_total": "MinIO v2 cluster",
    "dragonfly_connected_clients": "Dragonfly",
    "dragonfly_memory_used_bytes": "Dragonfly",
    "node_cpu_seconds_total": "node-exporter",
    "node_memory_MemAvailable_bytes": "node-exporter",
    "node_memory_MemTotal_bytes": "node-exporter",
    "node_load1": "node-exporter",
    "node_filesystem_avail_bytes": "node-exporter",
    "node_filesystem_size_bytes": "node-exporter",
    "node_network_receive_bytes_total": "node-exporter",
    "node_network_transmit_bytes_total": "node-exporter",
    "container_cpu_usage_seconds_total": "cAdvisor",
    "container_memory_working_set_bytes": "cAdvisor",
    "container_network_receive_bytes_total": "cAdvisor",
    "container_start_time_seconds": "cAdvisor",
}
REQUIRED_DASHBOARDS = {"api-overview", "pipeline-queues", "search", "data-stores", "logs", "host-containers"}
LOKI_UID = "heysh-loki"
REQUIRED_ALERTS = {
    "HeyshApiHigh5xxRate", "HeyshTaskFailureRateHigh", "HeyshQueueBacklog", "HeyshQueueOldestMessageTooOld",
    "HeyshStuckSteps", "HeyshStuckRuns", "HeyshWorkerDown", "HeyshBeatDown", "HeyshProjectionDriftNotRepaired",
    "HeyshComponentUnreachable", "HeyshDatabaseUnreachable", "HeyshVaultUnreachable",
}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "inf", "nan",
    # aggregation operators, which may be followed by a grouping clause instead of "("
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
}


def _load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_sample_names() -> set[str]:
    """Every sample name the code can export: apps.core.metrics and django-prometheus."""
    import django_prometheus.cache.metrics  # noqa: F401
    import django_prometheus.db.metrics  # noqa: F401
    from django_prometheus.middleware import Metrics

    import apps.core.metrics  # noqa: F401

    Metrics.get_instance()  # the middleware metrics register on first use
    names = set()
    for collector in list(prometheus_client.REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else []:
            base = family.name
            if family.type == "counter":
                names |= {base + "_total", base + "_created"}
            elif family.type == "histogram":
                names |= {base + "_bucket", base + "_count", base + "_sum", base + "_created"}
            elif family.type == "summary":
                names |= {base, base + "_count", base + "_sum", base + "_created"}
            else:
                names.add(base)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, ranges, strings and grouping removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    text = re.sub(r"\$\w+", "", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "", text)  # number literals (1e-9)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end():].lstrip()
        if following.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function or keyword
        if re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def _balanced(expr: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', "", expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                return False
    return not stack


def _dashboards() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARD_FILES}


def _alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[tuple[str, str, str]]:
    return [
        (name, panel["title"], target["expr"])
        for name, board in _dashboards().items()
        for panel in board["panels"] if panel["type"] != "row" and panel["datasource"]["uid"] != LOKI_UID
        for target in panel["targets"]
    ]


def _log_exprs() -> list[tuple[str, dict, str]]:
    return [
        (name, panel, target["expr"])
        for name, board in _dashboards().items()
        for panel in board["panels"] if panel["type"] != "row" and panel["datasource"]["uid"] == LOKI_UID
        for target in panel["targets"]
    ]


def test_metric_name_extraction_understands_promql():
    expr = 'histogram_quantile(0.95, sum by (le, queue) (rate(celery_task_queue_wait_seconds_bucket{queue=~"a|b"}[5m]))) / on(job) group_left up'
    assert metric_names(expr) == {"celery_task_queue_wait_seconds_bucket", "up"}
    assert metric_names("time() - max(heysh_beat_last_run_timestamp_seconds) > 300") == {"heysh_beat_last_run_timestamp_seconds"}
    assert metric_names("sum(a_total) / clamp_min(sum by (x) (b_total), 1e-9) > 0.05") == {"a_total", "b_total"}


def test_every_dashboard_and_alert_metric_is_exported():
    known = exported_sample_names() | set(EXTERNAL_METRICS)
    assert "celery_task_failed_total" in known and "django_http_responses_total_by_status_total" in known
    sources = [(f"dashboard {d} / {t}", e) for d, t, e in _dashboard_exprs()]
    sources += [(f"alert {r['alert']}", r["expr"]) for r in _alert_rules()]
    unknown = {(where, name) for where, expr in sources for name in metric_names(expr) if name not in known}
    assert not unknown, f"queries name metrics nothing exports: {sorted(unknown)}"
    used = {name for _, expr in sources for name in metric_names(expr)}
    unused_external = set(EXTERNAL_METRICS) - used
    assert not unused_external, f"allow-listed but unused, remove them: {unused_external}"


def test_the_platform_metrics_are_all_on_some_dashboard():
    used = {name for _, _, expr in _dashboard_exprs() for name in metric_names(expr)}
    for base in ("heysh_documents", "celery_queue_length", "celery_queue_oldest_message_age_seconds", "celery_worker_up",
                 "heysh_component_up", "heysh_search_latency_seconds_bucket", "heysh_step_duration_seconds_bucket",
                 "heysh_projection_drift_total", "heysh_beat_last_run_timestamp_seconds", "celery_task_runtime_seconds_bucket"):
        assert base in used, base


def test_dashboards_are_well_formed_and_provisioned():
    boards = _dashboards()
    assert set(boards) == REQUIRED_DASHBOARDS
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "heysh.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        occupied = set()
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] >= 1, (name, panel["title"])
            cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & occupied, f"{name}: {panel['title']} overlaps another panel"
            occupied |= cells
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] in (datasource["uid"], LOKI_UID), (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == panel["datasource"]["uid"]
                assert _balanced(target["expr"]), target["expr"]


def test_dashboard_json_and_previews_are_up_to_date():
    """The JSON is what build_dashboards.py writes, the HTML what render_preview.py writes."""
    builder = _load_module(GRAFANA / "build_dashboards.py", "heysh_build_dashboards")
    for name, body in builder.DASHBOARDS.items():
        on_disk = json.loads((GRAFANA / "dashboards" / f"{name}.json").read_text())
        assert on_disk == json.loads(json.dumps(body)), f"run compose/grafana/build_dashboards.py ({name})"
    preview = _load_module(GRAFANA / "render_preview.py", "heysh_render_preview")
    for path in DASHBOARD_FILES:
        html = (ROOT / "docs" / "dashboards" / f"{path.stem}.html").read_text()
        assert html == preview.render_html(path), f"run compose/grafana/render_preview.py ({path.stem})"
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["title"].replace("&", "&amp;") in html


def test_alert_rules_are_structurally_valid():
    document = yaml.safe_load(ALERTS.read_text())
    assert isinstance(document["groups"], list) and document["groups"]
    names = []
    for group in document["groups"]:
        assert set(group) <= {"name", "rules", "interval"} and group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert _balanced(rule["expr"]) and metric_names(rule["expr"]), rule["alert"]
            names.append(rule["alert"])
    assert len(names) == len(set(names))
    assert REQUIRED_ALERTS <= set(names), REQUIRED_ALERTS - set(names)


def test_prometheus_config_scrapes_every_component_and_loads_the_rules():
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]] for job in config["scrape_configs"]}
    assert targets["api"] == ["api:8000"]
    assert sorted(targets["workers"]) == ["worker-ai:9100", "worker-general:9100", "worker-storage:9100"]
    assert targets["beat"] == ["beat:9100"]
    assert {"weaviate", "minio", "dragonfly"} <= set(targets)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_accepts_rules_and_config():
    rules = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(_alert_rules())} rules found" in rules.stdout
    config = subprocess.run(["promtool", "check", "config", "--syntax-only", str(PROMETHEUS)], capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr


def _alloy_labels() -> tuple[set[str], set[str]]:
    """(stream labels, structured metadata) Alloy attaches to every line (compose/alloy/config.alloy)."""
    config = (ROOT / "compose" / "alloy" / "config.alloy").read_text()
    stream = set(re.findall(r'target_label\s*=\s*"(\w+)"', config))
    stream |= set(re.findall(r"stage\.labels \{\s*values = \{\s*(\w+)", config))
    metadata = re.search(r"stage\.structured_metadata \{\s*values = \{([^}]*)\}", config).group(1)
    return stream, set(re.findall(r"(\w+)\s*=", metadata))


def test_log_queries_only_name_labels_alloy_attaches():
    stream, metadata = _alloy_labels()
    assert {"service", "stack", "level"} <= stream and {"trace_id", "request_id", "run_id", "step"} <= metadata
    exprs = _log_exprs()
    assert exprs
    for name, panel, expr in exprs:
        assert _balanced(expr), (name, panel["title"])
        selector = re.search(r"\{([^}]*)\}", expr).group(1)
        assert set(re.findall(r"(\w+)\s*[=!]~?", selector)) <= stream, (name, panel["title"])
        filters = set(re.findall(r"\|\s*(\w+)\s*[=!]~?", expr))
        assert filters <= metadata, (name, panel["title"], filters - metadata)


def test_failing_steps_link_to_their_logs_and_traces():
    """The failed-steps table finds what the engine logs, and its links land on the logs
    dashboard's variables and on Tempo."""
    from apps.core.workflows import engine

    boards = _dashboards()
    (failed,) = [p for p in boards["pipeline-queues"]["panels"] if p["title"].startswith("Failed step attempts")]
    pattern = re.search(r"\|~ `([^`]*)`", failed["targets"][0]["expr"]).group(1)
    source = Path(engine.__file__).read_text()
    for template, args in (('"step %s attempt %s failed: %s"', ("extract", 2, "TimeoutError: slow")),
                           ('"step %s failed permanently: %s"', ("analyze", "unsupported file"))):
        assert template in source, template
        assert re.search(pattern, template.strip('"') % args), template
    links = {o["matcher"]["options"]: o["properties"][0]["value"][0] for o in failed["fieldConfig"]["overrides"]}
    variables = {v["name"] for v in boards["logs"]["templating"]["list"]}
    for field in ("request_id", "run_id"):
        url = links[field]["url"]
        assert field in variables and f"/d/{boards['logs']['uid']}/" in url and f"var-{field}=${{__value.raw}}" in url
    assert links["trace_id"]["internal"]["datasourceUid"] == "heysh-tempo"
    assert links["trace_id"]["internal"]["query"]["query"] == "${__value.raw}"
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "traces-and-logs.yml").read_text())["datasources"]
    assert {d["uid"] for d in datasources} == {"heysh-tempo", LOKI_UID}
    failures = next(p for p in boards["pipeline-queues"]["panels"] if p["title"] == "Failures by task and exception")
    assert failures["links"] and f"/d/{boards['logs']['uid']}/" in failures["links"][0]["url"]
