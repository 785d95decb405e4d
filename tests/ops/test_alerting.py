"""Alert rules and their routing: every rule carries the labels Alertmanager routes and
inhibits on, `promtool test rules` proves each rule fires (and stays silent) as intended,
`amtool` accepts the configuration and routes by severity, and the inhibition of per-step
alerts while the whole pipeline is down matches real rules.

promtool (Debian's prometheus) and amtool (prometheus-alertmanager) are installed by .ci/run;
outside CI their tests skip when the tool is missing, in CI a missing tool fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
ALERTS = ROOT / "compose" / "prometheus" / "alerts.yml"
PROMETHEUS = ROOT / "compose" / "prometheus" / "prometheus.yml"
ALERTMANAGER = ROOT / "compose" / "alertmanager" / "alertmanager.yml"
UNIT_TESTS = ROOT / "tests" / "ops" / "promtool" / "alerts_test.yml"
SCOPES = {"pipeline", "step", "api", "component", "platform", "projection"}
MATCHER = re.compile(r'^(\w+)\s*(=|!=|=~|!~)\s*"(.*)"$')


def rules() -> dict[str, dict]:
    return {rule["alert"]: rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("HEYSH_REQUIRE_SERVICES") == "1":  # set by .ci/run
            pytest.fail(f"{name} is missing in CI: .ci/run installs it")
        pytest.skip(f"{name} not installed (.ci/run installs it: apt-get install prometheus prometheus-alertmanager)")
    return path


def matches(matchers: list[str], labels: dict) -> bool:
    for matcher in matchers:
        name, op, value = MATCHER.match(matcher).groups()
        actual = labels.get(name, "")
        ok = {
            "=": actual == value,
            "!=": actual != value,
            "=~": re.fullmatch(value, actual) is not None,
            "!~": re.fullmatch(value, actual) is None,
        }[op]
        if not ok:
            return False
    return True


def test_every_rule_has_a_severity_and_a_scope():
    for name, rule in rules().items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["labels"]["scope"] in SCOPES, name


def test_every_rule_has_a_firing_unit_test():
    document = yaml.safe_load(UNIT_TESTS.read_text())
    assert [str((UNIT_TESTS.parent / f).resolve()) for f in document["rule_files"]] == [str(ALERTS.resolve())]
    fired = {case["alertname"] for test in document["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert fired == set(rules())
    for test in document["tests"]:
        for case in test["alert_rule_test"]:
            for alert in case["exp_alerts"]:
                expected = rules()[case["alertname"]]["labels"]
                assert {k: alert["exp_labels"][k] for k in expected} == expected, case["alertname"]


def test_promtool_unit_tests_of_the_rules_pass():
    result = subprocess.run(
        [tool("promtool"), "test", "rules", UNIT_TESTS.name],
        cwd=UNIT_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_per_step_alerts_are_inhibited_while_the_whole_pipeline_is_down():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    external = yaml.safe_load(PROMETHEUS.read_text())["global"]["external_labels"]
    # What Alertmanager receives: the rule's labels, the alert's name and Prometheus' external labels.
    alerts = {name: {**rule["labels"], "alertname": name, **external} for name, rule in rules().items()}
    by_scope = {scope: {n for n, labels in alerts.items() if labels["scope"] == scope} for scope in SCOPES}
    (pipeline_rule,) = [r for r in config["inhibit_rules"] if r["source_matchers"] == ['scope="pipeline"']]
    sources = {n for n, labels in alerts.items() if matches(pipeline_rule["source_matchers"], labels)}
    targets = {n for n, labels in alerts.items() if matches(pipeline_rule["target_matchers"], labels)}
    assert (
        sources == by_scope["pipeline"] == {"HeyshDatabaseUnreachable", "HeyshBrokerUnreachable", "HeyshPipelineDown"}
    )
    assert targets == by_scope["step"] and {"HeyshQueueBacklog", "HeyshWorkerDown", "HeyshStuckSteps"} <= targets
    assert not sources & targets  # the cause is never silenced by itself
    for label in pipeline_rule["equal"]:  # a label absent on both sides would match across stacks
        assert all(label in alerts[n] for n in sources | targets), label
    for rule in config["inhibit_rules"]:
        assert any(matches(rule["source_matchers"], a) for a in alerts.values()), rule
        assert any(matches(rule["target_matchers"], a) for a in alerts.values()), rule


def test_amtool_accepts_the_configuration():
    result = subprocess.run(
        [tool("amtool"), "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "2 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": "HeyshPipelineDown", "severity": "critical", "scope": "pipeline"}, "critical"),
        ({"alertname": "HeyshQueueBacklog", "severity": "warning", "scope": "step", "queue_name": "ai"}, "webhook"),
        ({"alertname": "HeyshProjectionDriftHigh", "severity": "info", "scope": "projection"}, "webhook"),
    ],
)
def test_amtool_routes_critical_alerts_to_email_and_webhook_and_the_rest_to_the_webhook(labels, receiver):
    result = subprocess.run(
        [
            tool("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]
    receivers = {r["name"]: r for r in yaml.safe_load(ALERTMANAGER.read_text())["receivers"]}
    assert "email_configs" in receivers["critical"] and "webhook_configs" in receivers["critical"]
