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
