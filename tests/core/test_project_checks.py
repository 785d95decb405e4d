"""Whole-project checks run as subprocesses, the way an operator runs them."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(args: list[str], environ: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HEYSH_VAR_DIR": str(tmp_path / "var"), **environ}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_models_and_migrations_agree(tmp_path):
    result = manage(["makemigrations", "--check", "--dry-run", "--skip-checks"], {}, tmp_path)
    assert result.returncode == 0, f"missing migrations:\n{result.stdout}\n{result.stderr}"


def test_deploy_check_is_clean_in_a_production_like_environment(tmp_path):
    production = {
        "HEYSH_ENVIRONMENT": "production",
        "HEYSH_SECRET_KEY": secrets.token_urlsafe(60),
        "HEYSH_ALLOWED_HOSTS": "heysh.example.com",
        "HEYSH_CSRF_TRUSTED_ORIGINS": "https://heysh.example.com",
        "HEYSH_CORS_ALLOWED_ORIGINS": "https://app.heysh.example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/heysh"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"),
        "HF_HUB_OFFLINE": "1",
    }
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], production, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_debug(tmp_path):
    result = manage(["check"], {"HEYSH_ENVIRONMENT": "production", "HEYSH_SECRET_KEY": "x" * 60,
                                "HEYSH_ALLOWED_HOSTS": "h", "HEYSH_DEBUG": "1"}, tmp_path)
    assert result.returncode != 0
    assert "HEYSH_DEBUG cannot be on" in result.stderr


def test_the_embedded_broker_accepts_messages(tmp_path):
    """With no environment, sending a task reaches the SQLite broker in var/ (what `make run` relies on)."""
    script = (
        "import django; django.setup()\n"
        "from heysh.celery import app\n"
        "app.send_task('tasks.diagnostics.ping', queue='general')\n"
        "import sqlite3; from django.conf import settings\n"
        "print(sqlite3.connect(settings.VAR_DIR / 'celery-broker.sqlite3').execute('select count(*) from kombu_message').fetchone()[0])\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HEYSH_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "heysh.settings"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1"
