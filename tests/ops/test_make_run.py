"""`make run`'s console: one line per process, logs under var/log/, the login box printed last.

The helpers of compose/local/run.sh are sourced into bash (sourcing runs nothing); starting
the real processes is what `make run` itself does and is not repeated here.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
RUN_SH = ROOT / "compose" / "local" / "run.sh"


def bash(script: str, *, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"source {RUN_SH}\n{script}"], cwd=cwd, capture_output=True, text=True,
                          timeout=30)


def test_summary_is_one_aligned_line_per_process(tmp_path):
    result = bash("summary web http://127.0.0.1:8000 var/log/web.log\nsummary worker 'queues ai,storage,general' "
                  "var/log/worker.log", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    web, worker = result.stdout.splitlines()
    assert web.split() == ["web", "http://127.0.0.1:8000", "log", "var/log/web.log"]
    assert worker.startswith("worker  queues ai,storage,general")
    assert web.index(" log ") == worker.index(" log ")  # the log column lines up


def test_each_run_gets_a_fresh_log_and_keeps_the_previous_one(tmp_path):
    result = bash("log_file web\necho old >var/log/web.log\nlog_file web", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["var/log/web.log", "var/log/web.log"]
    assert (tmp_path / "var/log/web.log").read_text() == ""
    assert (tmp_path / "var/log/web.log.1").read_text() == "old\n"


def test_a_failing_setup_step_shows_the_end_of_its_log_and_stops(tmp_path):
    result = bash("setup_step migrate bash -c 'echo step one; echo no such table >&2; exit 3'\necho not reached",
                  cwd=tmp_path)
    assert result.returncode == 1
    assert "migrate failed; the end of var/log/migrate.log:" in result.stderr and "no such table" in result.stderr
    assert "not reached" not in result.stdout
    assert (tmp_path / "var/log/migrate.log").read_text() == "step one\nno such table\n"


def test_a_setup_step_that_works_prints_one_line(tmp_path):
    result = bash("setup_step setup bash -c 'echo lots of output; echo more'", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.split() == ["setup", "done", "log", "var/log/setup.log"]
    assert "lots of output" in (tmp_path / "var/log/setup.log").read_text()


def test_wait_for_port_gives_up_on_a_closed_port(tmp_path):
    result = bash("wait_for_port 127.0.0.1:9 1 && echo open || echo closed", cwd=tmp_path)
    assert result.stdout.strip() == "closed"


@pytest.mark.django_db
def test_login_box_has_the_login_and_urls(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        call_command("bootstrap_demo", skip_sample=True, stdout=io.StringIO())
        out = io.StringIO()
        call_command("demo_login", base_url="http://127.0.0.1:8000/", stdout=out)
    password = (tmp_path / "demo-admin-password").read_text().strip()
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("┌") and lines[-1].startswith("└") and len(lines) == 8
    assert len({len(line) for line in lines}) == 1  # a closed box
    body = [line.strip("│ ").split("  ", 1) for line in lines[2:-1]]  # label, two spaces, value
    assert {label.strip(): value.strip() for label, value in body} == {
        "Admin": "http://127.0.0.1:8000/admin/", "User": "admin", "Password": password,
        "Workspace": "http://127.0.0.1:8000/admin/bootstrap/domainbootstrap/workspace/demo/",
        "API docs": "http://127.0.0.1:8000/api/docs/",
    }


@pytest.mark.django_db
def test_login_box_says_when_there_is_no_admin_yet(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        out = io.StringIO()
        call_command("demo_login", stdout=out)
    assert "no admin yet: run `manage.py bootstrap_demo`" in out.getvalue()


def test_the_box_comes_last_after_one_line_per_process(tmp_path):
    result = bash("logs=(var/log/worker.log var/log/beat.log var/log/web.log)\n"
                  "announce http://127.0.0.1:8000 'queues ai,storage,general' $'┌──┐\\n│ac│\\n└──┘'", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["worker", "beat", "web"]
    assert lines[2].split()[-1] == "var/log/web.log" and lines[3].startswith("up in ")
    assert lines[-3:] == ["┌──┐", "│ac│", "└──┘"]


@pytest.mark.parametrize(("env", "quiet"), [({}, True), ({"PIP_QUIET": ""}, False)])
def test_make_install_is_quiet_only_off_a_terminal(env, quiet):
    result = subprocess.run(["make", "-n", "-W", "requirements/dev.txt", "install", *(f"{k}={v}" for k, v in env.items())],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    install = next(line for line in result.stdout.splitlines() if "-r requirements/dev.txt" in line)
    assert (" -q " in install) is quiet
