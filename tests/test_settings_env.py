"""Settings are parsed from the environment with typed parsing that rejects nonsense."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from heysh.env import Env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("YES", True), ("off", False), ("0", False)])
def test_bool_accepts_the_usual_words(raw, expected):
    assert Env({"X": raw}).bool("X") is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "tru"])
def test_bool_rejects_nonsense_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match=r"X=.* is not a boolean"):
        Env({"X": raw}).bool("X")


def test_int_rejects_non_numbers_and_out_of_range():
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        Env({"N": "ten"}).int("N", 1)
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        Env({"N": "0"}).int("N", 1, min_value=1)


def test_choice_and_url_reject_unknown_values():
    with pytest.raises(ImproperlyConfigured, match="not one of"):
        Env({"E": "gpu"}).choice("E", ["local", "hashing"], "local")
    with pytest.raises(ImproperlyConfigured, match="scheme postgres"):
        Env({"DATABASE_URL": "mysql://x"}).url("DATABASE_URL", ("postgres",))


def test_unset_and_blank_fall_back_to_defaults():
    env = Env({"BLANK": "  "})
    assert env.int("MISSING", 7) == 7
    assert env.bool("BLANK", True) is True
    assert env.list("MISSING", ["a"]) == ["a"]


def _run_settings(environ: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "HEYSH_VAR_DIR": str(tmp_path), **environ}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)"],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "heysh.settings"}, capture_output=True, text=True, timeout=120,
    )


def test_a_bad_value_stops_startup_with_a_clear_message(tmp_path):
    result = _run_settings({"HEYSH_DEBUG": "maybe"}, tmp_path)
    assert result.returncode != 0
    assert "HEYSH_DEBUG='maybe' is not a boolean" in result.stderr


def test_no_environment_means_embedded_sqlite_and_sqlite_broker(tmp_path):
    result = _run_settings({}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout
    assert f"sqla+sqlite:///{tmp_path}" in result.stdout


def test_production_requires_a_secret_key(tmp_path):
    result = _run_settings({"HEYSH_ENVIRONMENT": "production", "HEYSH_ALLOWED_HOSTS": "x.example"}, tmp_path)
    assert result.returncode != 0
    assert "HEYSH_SECRET_KEY must be set" in result.stderr
