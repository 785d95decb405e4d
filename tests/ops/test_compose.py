"""docker-compose.yml, the override, .env.example and compose/ cross-checked against each
other and against what the code reads. No Docker engine runs here: these tests are the
validation the stack gets before it is started somewhere that has one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from heysh.celery import QUEUES

ROOT = Path(settings.BASE_DIR)
BASE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OVERRIDE = yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())
SERVICES = BASE["services"]
TEMPO = yaml.safe_load((ROOT / "compose/tempo/tempo.yml").read_text())
LOKI = yaml.safe_load((ROOT / "compose/loki/loki.yml").read_text())
DATASOURCES = {
    source["uid"]: source
    for path in sorted((ROOT / "compose/grafana/provisioning/datasources").glob("*.yml"))
    for source in yaml.safe_load(path.read_text())["datasources"]
}
APP_SERVICES = {"api", "worker-ai", "worker-storage", "worker-general", "beat", "migrate"}
ONE_SHOT = {"migrate", "minio-init", "vault-setup"}
EXPECTED = (
    APP_SERVICES
    | ONE_SHOT
    | {
        "postgres",
        "dragonfly",
        "neo4j",
        "weaviate",
        "minio",
        "vault",
        "prometheus",
        "grafana",
        "caddy",
        "alertmanager",
        "tempo",
        "loki",
        "alloy",
        "node-exporter",
        "cadvisor",
    }
)
# Services that read the host itself (its filesystem, the Docker socket), read-only.
HOST_READERS = {"alloy", "node-exporter", "cadvisor"}
# Secrets the application reads from Vault; never set on an application container.
VAULT_SECRETS = {
    "HEYSH_SECRET_KEY",
    "DATABASE_URL",
    "NEO4J_PASSWORD",
    "WEAVIATE_API_KEY",
    "HEYSH_S3_ACCESS_KEY",
    "HEYSH_S3_SECRET_KEY",
    "HEYSH_LLM_API_KEY",
    "HEYSH_METRICS_TOKEN",
}
# Read by the container tooling rather than settings (exporter, gunicorn.conf.py, healthcheck.py).
PROCESS_VARIABLES = {
    "HEYSH_METRICS_PORT",
    "PROMETHEUS_MULTIPROC_DIR",
    "HEYSH_API_WORKERS",
    "HEYSH_API_PORT",
    "HEYSH_API_THREADS",
    "HEYSH_API_TIMEOUT_SECONDS",
    "HEYSH_BEAT_STALE_SECONDS",
}


def full_settings_registry() -> dict[str, str]:
    """Every variable settings.py can read: a fresh interpreter with every optional branch on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYSH_", "VAULT_", "NEO4J_", "WEAVIATE_"))}
    env.update(
        {
            "HEYSH_ENVIRONMENT": "production",
            "HEYSH_SECRET_KEY": "x" * 50,
            "HEYSH_ALLOWED_HOSTS": "example.com",
            "NEO4J_URI": "bolt://neo4j:7687",
            "WEAVIATE_URL": "http://weaviate:8080",
            "HEYSH_S3_BUCKET": "documents",
            "HEYSH_LLM_BASE_URL": "http://llm/v1",
            "DJANGO_SETTINGS_MODULE": "heysh.settings",
        }
    )
    code = "import json; from heysh import settings as s; print(json.dumps({v.name: v.kind for v in s.ENV_REGISTRY.values()}))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def source_environ_names() -> set[str]:
    """VAULT_*/HEYSH_* names read straight from os.environ (heysh/vault.py, apps/core/*)."""
    names = set()
    pattern = re.compile(r"environ(?:\.get)?[\[(]\s*[\"']((?:VAULT|HEYSH|PROMETHEUS)_[A-Z0-9_]+)[\"']")
    for path in [*(ROOT / "heysh").glob("*.py"), *(ROOT / "apps").rglob("*.py")]:
        names |= set(pattern.findall(path.read_text()))
    return names


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, re.M))


def compose_interpolations() -> set[str]:
    names = set()
    for name in ("docker-compose.yml", "docker-compose.override.yml"):
        text = (ROOT / name).read_text()
        names |= set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    return names


def app_environment(service: str) -> dict:
    return SERVICES[service].get("environment") or {}


def test_every_service_of_the_stack_is_defined():
    assert set(SERVICES) == EXPECTED


def test_depends_on_targets_exist_with_meaningful_conditions():
    for name, service in SERVICES.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], (
                    f"{name} waits for {target} to be healthy but it has no healthcheck"
                )
            elif condition == "service_completed_successfully":
                assert target in ONE_SHOT, f"{name} waits for {target} to complete but it is long-running"
            else:
                pytest.fail(
                    f"{name} -> {target}: use service_healthy / service_completed_successfully, not {condition}"
                )
    for name in APP_SERVICES - {"migrate"}:
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_restart():
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        assert service.get("restart") == "unless-stopped", name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, f"{name} has no healthcheck"


def test_only_caddy_publishes_ports_in_the_base_file():
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"caddy"}
    assert {"80:80", "443:443"} <= set(SERVICES["caddy"]["ports"])


def test_images_are_pinned_and_the_app_uses_one_image():
    for name, service in SERVICES.items():
        image = service["image"]
        if name in APP_SERVICES:
            assert service["build"]["dockerfile"] == "compose/django/Dockerfile", name
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and tag and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
    assert len({SERVICES[name]["image"] for name in APP_SERVICES}) == 1


def test_one_worker_per_queue_with_concurrency_from_env_and_exactly_one_beat():
    served = {}
    for name in ("worker-ai", "worker-storage", "worker-general"):
        command = SERVICES[name]["command"]
        assert command[0].endswith("start-worker.sh")
        served[command[1]] = name
        assert app_environment(name)["HEYSH_WORKER_CONCURRENCY"].startswith("${HEYSH_WORKER_")
    assert sorted(served) == sorted(QUEUES)
    script = (ROOT / "compose/django/start-worker.sh").read_text()
    assert '--queues "$queue"' in script and "HEYSH_WORKER_CONCURRENCY" in script
    beats = [n for n, s in SERVICES.items() if any("start-beat" in str(c) for c in s.get("command", []))]
    assert beats == ["beat"] and SERVICES["beat"]["deploy"]["replicas"] == 1
    assert SERVICES["api"]["command"] == ["/app/compose/django/start-api.sh"]
    assert "gunicorn" in (ROOT / "compose/django/start-api.sh").read_text()


def test_workers_weigh_less_than_the_api_on_a_shared_cpu():
    """Searches keep their idle latency while ingestion runs only if the workers yield the CPU
    (bench/search --during-ingest: p95 1.44-1.57x idle at equal priority, 0.87-1.01x below)."""
    api_shares = SERVICES["api"].get("cpu_shares", 1024)  # Docker's default weight
    for name in ("worker-ai", "worker-storage", "worker-general"):
        assert 0 < SERVICES[name]["cpu_shares"] < api_shares


def test_named_volumes_are_declared_and_data_services_persist():
    declared = set(BASE["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("/"):
                assert name in HOST_READERS and volume.split(":")[2].startswith("ro"), (
                    f"{name} mounts the host's {source} writable"
                )
                continue
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
                continue
            assert source in declared, f"{name} uses undeclared volume {source}"
            used.add(source)
    assert declared == used
    for name, path in (
        ("postgres", "/var/lib/postgresql/data"),
        ("neo4j", "/data"),
        ("weaviate", "/var/lib/weaviate"),
        ("minio", "/data"),
        ("prometheus", "/prometheus"),
        ("grafana", "/var/lib/grafana"),
        ("dragonfly", "/data"),
        ("alertmanager", "/alertmanager"),
        ("tempo", "/var/tempo"),
        ("loki", "/loki"),
    ):
        assert any(v.split(":")[1] == path and not v.startswith(".") for v in SERVICES[name]["volumes"]), name


def test_weaviate_is_configured_for_heysh():
    env = SERVICES["weaviate"]["environment"]
    assert env["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert env["CLUSTER_HOSTNAME"] and "$" not in env["CLUSTER_HOSTNAME"]
    assert any(v.endswith(":" + env["PERSISTENCE_DATA_PATH"]) for v in SERVICES["weaviate"]["volumes"])
    assert env["PROMETHEUS_MONITORING_ENABLED"] == "true"
    app = app_environment("api")
    assert app["WEAVIATE_URL"] == "http://weaviate:8080" and app["WEAVIATE_GRPC_PORT"] == "50051"
    assert "127.0.0.1:50051:50051" in OVERRIDE["services"]["weaviate"]["ports"]


def test_env_example_documents_every_variable_read():
    documented = env_example_names()
    registry = full_settings_registry()
    assert len(registry) > 40 and "NEO4J_PASSWORD" in registry and "HEYSH_S3_SECRET_KEY" in registry
    read = set(registry) | source_environ_names() | PROCESS_VARIABLES
    assert {"VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_KV_PATHS", "VAULT_KV_MOUNT"} <= read
    missing = read - documented
    assert not missing, f".env.example does not document: {sorted(missing)}"
    undefined = compose_interpolations() - documented
    assert not undefined, f"compose files interpolate variables .env.example does not define: {sorted(undefined)}"


def test_app_containers_get_known_variables_and_no_secrets():
    known = set(full_settings_registry()) | source_environ_names() | PROCESS_VARIABLES
    for name in APP_SERVICES:
        env = app_environment(name)
        assert not set(env) - known, f"{name} sets variables nothing reads: {set(env) - known}"
        assert not set(env) & VAULT_SECRETS, f"{name} gets secrets as variables: {set(env) & VAULT_SECRETS}"
        assert env["VAULT_ADDR"] == "http://vault:8200" and env["VAULT_TOKEN"]
        assert env["HEYSH_ENVIRONMENT"] == "production" and env["HEYSH_LOG_JSON"] == "1"
    setup = (ROOT / "compose/vault/setup.sh").read_text()
    for secret in VAULT_SECRETS:
        assert re.search(rf"^\s+{secret}=", setup, re.M), f"vault-setup does not write {secret}"
    assert "vault kv put" in setup and "policy write" in setup
    vault_setup_env = SERVICES["vault-setup"]["environment"]
    assert vault_setup_env["VAULT_TOKEN"] == "${VAULT_ROOT_TOKEN}"


def test_dev_override_publishes_ports_mounts_code_and_reloads():
    services = OVERRIDE["services"]
    api = services["api"]
    assert api["build"]["target"] == "dev"
    assert ".:/app" in api["volumes"]
    assert api["command"][:3] == ["python", "manage.py", "runserver"] and "--noreload" not in api["command"]
    assert "127.0.0.1:8000:8000" in api["ports"]
    for name in ("postgres", "dragonfly", "neo4j", "minio", "vault", "prometheus", "grafana"):
        assert services[name]["ports"], name
    live = {name for name, service in services.items() if service.get("profiles") == ["live"]}
    assert set(services) - live <= set(SERVICES)


def test_dockerfile_is_multi_stage_non_root_with_cpu_torch():
    dockerfile = (ROOT / "compose/django/Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)", dockerfile, re.M)
    assert {"builder", "runtime", "dev"} <= set(stages)
    runtime = dockerfile.split("AS runtime", 1)[1].split("AS dev", 1)[0]
    assert re.search(r"^USER heysh$", runtime, re.M)
    assert dockerfile.rstrip().endswith("USER heysh")
    pinned = re.search(r"^torch==(\S+)$", (ROOT / "requirements/base.txt").read_text(), re.M).group(1)
    assert f"pip install torch=={pinned} --index-url https://download.pytorch.org/whl/cpu" in dockerfile
    assert "requirements/dev.txt" in dockerfile.split("AS builder-dev", 1)[1]
    for script in ("entrypoint.sh", "start-api.sh", "start-worker.sh", "start-beat.sh", "start-migrate.sh"):
        path = ROOT / "compose/django" / script
        assert path.exists() and os.access(path, os.X_OK), script
    for name in ("compose/vault/setup.sh", "compose/minio/create-bucket.sh"):
        assert (ROOT / name).exists()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


def test_prometheus_sends_the_metrics_token_compose_mounts_for_it():
    """The api job authenticates with the file compose fills from HEYSH_METRICS_TOKEN, the value
    vault-setup gives the app."""
    config = yaml.safe_load((ROOT / "compose/prometheus/prometheus.yml").read_text())
    api_job = next(job for job in config["scrape_configs"] if job["job_name"] == "api")
    assert api_job["authorization"]["type"] == "Bearer"
    mounted = {entry["target"]: entry["source"] for entry in SERVICES["prometheus"]["secrets"]}
    source = mounted[api_job["authorization"]["credentials_file"]]
    assert BASE["secrets"][source] == {"environment": "HEYSH_METRICS_TOKEN"}
    assert SERVICES["vault-setup"]["environment"]["HEYSH_METRICS_TOKEN"].startswith("${HEYSH_METRICS_TOKEN")


def test_prometheus_targets_match_the_services_ports():
    config = yaml.safe_load((ROOT / "compose/prometheus/prometheus.yml").read_text())
    ports = {
        "api": "8000",
        "weaviate": SERVICES["weaviate"]["environment"]["PROMETHEUS_MONITORING_PORT"],
        "minio": "9000",
        "dragonfly": "6379",
        "alertmanager": "9093",
        "node-exporter": "9100",
        "cadvisor": "8080",
        "tempo": str(TEMPO["server"]["http_listen_port"]),
        "loki": str(LOKI["server"]["http_listen_port"]),
    }
    for name in ("worker-ai", "worker-storage", "worker-general", "beat"):
        ports[name] = app_environment(name)["HEYSH_METRICS_PORT"]
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, port = target.split(":")
                if host == "localhost":
                    continue
                assert host in SERVICES, target
                assert ports[host] == port, target


def test_gunicorn_child_exit_marks_dead_workers(tmp_path, monkeypatch):
    """The hook removes a dead worker's live-gauge file so /metrics stops summing it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("heysh_gunicorn_conf", ROOT / "compose/django/gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = tmp_path / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    counter = tmp_path / "counter_4242.db"
    counter.write_bytes(b"")

    class DeadWorker:
        pid = 4242

    conf.child_exit(None, DeadWorker())
    assert not live.exists()
    assert counter.exists(), "counters of dead workers still count"
    assert conf.logconfig_dict["formatters"]["json"]["()"] == "apps.core.logging.JsonFormatter"


def test_gunicorn_believes_the_scheme_only_from_trusted_proxies(monkeypatch):
    """gunicorn sets wsgi.url_scheme from X-Forwarded-Proto only for HEYSH_TRUSTED_PROXIES (else loopback)."""
    import importlib.util

    from gunicorn.config import Config

    def allowed() -> list[str]:
        spec = importlib.util.spec_from_file_location("heysh_gunicorn_conf", ROOT / "compose/django/gunicorn.conf.py")
        conf = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(conf)
        config = Config()
        config.set("forwarded_allow_ips", conf.forwarded_allow_ips)
        return [str(network) for network in config.forwarded_allow_networks()]

    monkeypatch.delenv("HEYSH_TRUSTED_PROXIES", raising=False)
    assert allowed() == ["127.0.0.1/32", "::1/128"]
    monkeypatch.setenv("HEYSH_TRUSTED_PROXIES", "172.16.0.0/12,10.0.0.0/8")
    assert allowed() == ["172.16.0.0/12", "10.0.0.0/8"]


# --- scale-out wiring (issue 16) -------------------------------------------------------
VAULT_SERVER = yaml.safe_load((ROOT / "docker-compose.vault-server.yml").read_text())


def _default(value: str) -> str:
    """${NAME:-default} -> default."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def _mebibytes(size: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", size.strip().lower()).groups()
    return float(number) * {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024**2}[unit]


def test_dragonfly_threads_are_fixed_and_each_has_its_256_mib():
    """Dragonfly refuses to start below 256 MiB per thread, and one thread per core is its default."""
    args = dict(a.split("=", 1) for a in SERVICES["dragonfly"]["command"] if a.startswith("--") and "=" in a)
    threads = int(_default(args["--proactor_threads"]))
    memory = _mebibytes(_default(args["--maxmemory"]))
    assert threads >= 1 and memory >= 256 * threads
    example = dict(re.findall(r"^(DRAGONFLY_\w+)=(\S+)$", (ROOT / ".env.example").read_text(), re.M))
    assert _mebibytes(example["DRAGONFLY_MAXMEMORY"]) >= 256 * int(example["DRAGONFLY_THREADS"])


def test_migrate_waits_for_the_bucket_minio_init_creates():
    depends = SERVICES["migrate"]["depends_on"]
    assert depends["minio-init"]["condition"] == "service_completed_successfully"


def test_downloads_are_signed_for_the_public_files_site_caddy_proxies_to_minio():
    env = app_environment("api")
    public = env["HEYSH_S3_PUBLIC_ENDPOINT_URL"]
    assert public.startswith("https://${HEYSH_FILES_ADDRESS")
    assert SERVICES["caddy"]["environment"]["HEYSH_FILES_ADDRESS"] == "${HEYSH_FILES_ADDRESS:-files.localhost}"
    caddyfile = (ROOT / "compose/caddy/Caddyfile").read_text()
    files_site = caddyfile.split("{$HEYSH_FILES_ADDRESS:files.localhost} {", 1)[1]
    assert re.search(r"^\s*reverse_proxy minio:9000$", files_site, re.M)
    assert "header_up Host" not in files_site  # the signed Host must reach MinIO unchanged


def test_setup_url_encodes_the_database_password():
    """The same byte-wise percent-encoding as urllib's, run by the POSIX shell."""
    from urllib.parse import quote

    setup = (ROOT / "compose/vault/setup.sh").read_text()
    function = re.search(r"^urlencode\(\) \{.*?^\}", setup, re.M | re.S).group(0)
    assert 'DATABASE_URL="postgres://$(urlencode "$POSTGRES_USER"):$(urlencode "$POSTGRES_PASSWORD")@' in setup
    for password in ("p@ss:w/rd #%é~x-_.Z9", "plain", "a+b=c&d?e"):
        out = subprocess.run(
            ["sh", "-c", f'{function}\nurlencode "$1"', "sh", password], capture_output=True, text=True, check=True
        ).stdout
        assert out == quote(password, safe="-._~")


def test_vault_server_profile_persists_unseals_and_logs_the_app_in_with_approle():
    services = VAULT_SERVER["services"]
    vault = services["vault"]
    assert vault["command"] == ["server", "-config=/vault/config/vault.hcl"]
    assert "vault-data:/vault/file" in vault["volumes"] and "vault-data" in VAULT_SERVER["volumes"]
    hcl = (ROOT / "compose/vault/vault.hcl").read_text()
    assert 'storage "file"' in hcl and 'path = "/vault/file"' in hcl
    setup = services["vault-setup"]
    assert setup["entrypoint"] == ["/bin/sh", "/setup/init-unseal.sh"]
    assert setup["restart"] == "unless-stopped" and setup["healthcheck"]["test"][0] == "CMD-SHELL"
    script = (ROOT / "compose/vault/init-unseal.sh").read_text()
    assert "vault operator init" in script and "vault operator unseal" in script and "/setup/setup.sh" in script
    approle = (ROOT / "compose/vault/setup.sh").read_text()
    assert "auth/approle/role/heysh-app token_policies=heysh-app token_period=24h" in approle
    for name in APP_SERVICES:
        overlay = services[name]
        assert overlay["environment"]["VAULT_TOKEN"] == "" and overlay["environment"]["VAULT_APPROLE_DIR"]
        assert overlay["depends_on"]["vault-setup"]["condition"] == "service_healthy"
        assert any(v.startswith("vault-approle:") and v.endswith(":ro") for v in overlay["volumes"])
    entrypoint = (ROOT / "compose/django/entrypoint.sh").read_text()
    assert 'VAULT_ROLE_ID=$(cat "$VAULT_APPROLE_DIR/role_id")' in entrypoint
    assert set(services) <= set(SERVICES)


def test_the_live_suite_is_one_command_against_servers_of_its_own():
    services = OVERRIDE["services"]
    runner = services["live-tests"]
    assert runner["profiles"] == ["live"] and runner["command"][:4] == ["pytest", "--live", "-m", "live"]
    env = runner["environment"]
    assert env["HEYSH_LIVE_ISOLATED"] == "1"
    assert env["NEO4J_URI"] == "bolt://neo4j-live:7687" and env["WEAVIATE_URL"] == "http://weaviate-live:8080"
    assert (
        env["NEO4J_URI"] != BASE["x-app-env"]["NEO4J_URI"] and env["WEAVIATE_URL"] != BASE["x-app-env"]["WEAVIATE_URL"]
    )
    assert env["HEYSH_S3_BUCKET"] != BASE["x-app-env"]["HEYSH_S3_BUCKET"]
    assert env["VAULT_ADDR"] == "http://vault:8200"
    for name in ("neo4j-live", "weaviate-live"):
        assert services[name]["profiles"] == ["live"] and services[name]["tmpfs"], name
        assert runner["depends_on"][name]["condition"] == "service_healthy"
    assert "--profile live run --rm live-tests" in (ROOT / "docs/operations.md").read_text()


def test_live_graph_and_vector_suites_refuse_servers_that_may_be_the_apps(monkeypatch):
    from tests.backends.conftest import live_env

    monkeypatch.setenv("NEO4J_URI", "bolt://neo4j:7687")
    monkeypatch.delenv("HEYSH_LIVE_ISOLATED", raising=False)
    assert "may be the app's own server" in live_env("NEO4J_URI")
    monkeypatch.setenv("HEYSH_LIVE_ISOLATED", "1")
    assert live_env("NEO4J_URI") is None
    monkeypatch.delenv("HEYSH_LIVE_ISOLATED")
    monkeypatch.setenv("VAULT_ADDR", "http://vault:8200")
    assert live_env("VAULT_ADDR") is None  # Vault and S3 cases write only paths and buckets of their own


# --- traces, logs, alerts and host metrics ------------------------------------------------
def test_every_app_container_exports_traces_to_tempo_under_its_own_name():
    receiver = TEMPO["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    port = receiver.rsplit(":", 1)[1]
    names = {}
    for name in APP_SERVICES:
        env = app_environment(name)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"${{OTEL_EXPORTER_OTLP_ENDPOINT:-http://tempo:{port}}}", name
        names[name] = env["OTEL_SERVICE_NAME"]
    assert names == {name: name for name in APP_SERVICES}  # one service name per container


def test_grafana_has_tempo_and_loki_linked_both_ways():
    tempo, loki = DATASOURCES["heysh-tempo"], DATASOURCES["heysh-loki"]
    assert tempo["type"] == "tempo" and tempo["url"] == f"http://tempo:{TEMPO['server']['http_listen_port']}"
    assert loki["type"] == "loki" and loki["url"] == f"http://loki:{LOKI['server']['http_listen_port']}"
    assert tempo["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "heysh-loki"
    assert "trace_id=" in tempo["jsonData"]["tracesToLogsV2"]["query"]
    (derived,) = loki["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == "heysh-tempo"
    assert SERVICES["grafana"]["depends_on"]["loki"]["condition"] == "service_healthy"


def test_a_real_json_log_line_yields_its_trace_id_through_the_loki_derived_field():
    """The regex Grafana applies to a log line finds the trace id apps.core.logging writes."""
    import io
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    from apps.core.logging import ContextFilter, JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("heysh.test.derived_field")
    logger.addHandler(handler)
    try:
        with TracerProvider().get_tracer("test").start_as_current_span("step") as span:
            logger.warning("step extract failed")
    finally:
        logger.removeHandler(handler)
    (derived,) = DATASOURCES["heysh-loki"]["jsonData"]["derivedFields"]
    pattern = derived["matcherRegex"]
    match = re.search(pattern, stream.getvalue())
    assert match and match.group(1) == format(span.get_span_context().trace_id, "032x")


def test_alloy_ships_container_logs_to_loki_with_ids_as_structured_metadata():
    config = (ROOT / "compose/alloy/config.alloy").read_text()
    push = re.search(r'url\s*=\s*"http://loki:(\d+)/loki/api/v1/push"', config)
    assert push and push.group(1) == str(LOKI["server"]["http_listen_port"])
    assert 'host = "unix:///var/run/docker.sock"' in config
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in SERVICES["alloy"]["volumes"]
    metadata = re.search(r"stage\.structured_metadata \{\s*values = \{([^}]*)\}", config)
    assert metadata and {"trace_id", "request_id", "run_id"} <= set(re.findall(r"(\w+)\s*=", metadata.group(1)))
    assert LOKI["limits_config"]["allow_structured_metadata"] is True
    assert SERVICES["alloy"]["depends_on"]["loki"]["condition"] == "service_healthy"


def test_prometheus_sends_alerts_to_alertmanager_which_gets_its_credentials_as_secret_files():
    prometheus = yaml.safe_load((ROOT / "compose/prometheus/prometheus.yml").read_text())
    (target,) = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert target == "alertmanager:9093"
    config = (ROOT / "compose/alertmanager/alertmanager.yml").read_text()
    referenced = set(re.findall(r"/run/secrets/(\w+)", config))
    assert referenced and referenced == set(SERVICES["alertmanager"]["secrets"]) <= set(BASE["secrets"])
    for name in referenced:
        variable = BASE["secrets"][name]["environment"]
        assert variable in env_example_names(), f"{variable} missing from .env.example"
    command = " ".join(SERVICES["alertmanager"]["command"])
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in command
    assert "./compose/alertmanager:/etc/alertmanager:ro" in SERVICES["alertmanager"]["volumes"]


def test_host_and_container_metrics_are_collected_read_only():
    assert SERVICES["node-exporter"]["pid"] == "host"
    assert "--path.rootfs=/host" in SERVICES["node-exporter"]["command"]
    assert "/:/host:ro,rslave" in SERVICES["node-exporter"]["volumes"]
    assert all(v.split(":")[2].startswith("ro") for v in SERVICES["cadvisor"]["volumes"])
    assert "--docker_only=true" in SERVICES["cadvisor"]["command"]


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.override.yml"])
def test_no_top_level_key_is_written_twice(name):
    """YAML keeps only the last of two equal keys: a second `secrets:` block silently drops the first."""
    keys = re.findall(r"^([A-Za-z][\w.-]*):", (ROOT / name).read_text(), re.M)
    assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})
