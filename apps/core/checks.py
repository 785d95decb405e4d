"""System checks: each configured backend can at least be constructed."""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from apps.core.backends import HANDLERS


@register("heysh")
def check_backends(app_configs, **kwargs):
    errors = []
    for name, handler in HANDLERS.items():
        for alias, config in handler.settings.items():
            if "BACKEND" not in config:
                errors.append(Error(f"{name}[{alias!r}] has no BACKEND.", id="heysh.E001"))
                continue
            try:
                import_string(config["BACKEND"])
            except ImportError as exc:
                errors.append(Error(f"{name}[{alias!r}]: cannot import {config['BACKEND']}: {exc}", id="heysh.E002"))
            except ImproperlyConfigured as exc:
                errors.append(Error(f"{name}[{alias!r}]: {exc}", id="heysh.E003"))
    return errors
