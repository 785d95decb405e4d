"""Alias-dict backends, the Django way (like ``CACHES`` and ``STORAGES``).

Each port has a settings dict ``{alias: {"BACKEND": dotted.path, "OPTIONS": {...}}}``
and a handler here that builds the backend lazily on first use (never at import),
keeps one instance per alias per thread, and forgets them when the setting changes so
``override_settings`` works in tests.

    from apps.core.backends import graph_stores, vector_stores, embedders, extractors
    embedders["default"].embed(["some text"])
"""

from __future__ import annotations

from asgiref.local import Local
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.connection import BaseConnectionHandler
from django.utils.module_loading import import_string


class BackendHandler(BaseConnectionHandler):
    exception_class = ImproperlyConfigured

    def __init__(self, settings_name: str):
        self.settings_name = settings_name
        super().__init__()

    def create_connection(self, alias):
        config = self.settings[alias]
        try:
            backend_class = import_string(config["BACKEND"])
        except (ImportError, KeyError) as exc:
            raise ImproperlyConfigured(f"{self.settings_name}[{alias!r}]: cannot load BACKEND ({exc}).") from exc
        return backend_class(alias=alias, **config.get("OPTIONS", {}))

    def reset(self):
        for backend in self.all(initialized_only=True):
            if hasattr(backend, "close"):
                backend.close()
        self.__dict__.pop("settings", None)
        self._settings = None
        # asgiref's Local refuses type(local)(...): build a fresh one like BaseConnectionHandler does.
        self._connections = Local(self.thread_critical)

    def configured(self):
        """(alias, backend) for every configured alias, built on demand."""
        return [(alias, self[alias]) for alias in self.settings]


graph_stores = BackendHandler("GRAPH_STORES")
vector_stores = BackendHandler("VECTOR_STORES")
embedders = BackendHandler("EMBEDDERS")
extractors = BackendHandler("EXTRACTORS")

HANDLERS = {h.settings_name: h for h in (graph_stores, vector_stores, embedders, extractors)}


@receiver(setting_changed)
def reset_backends_on_setting_change(*, setting, **kwargs):
    handler = HANDLERS.get(setting)
    if handler is not None:
        handler.reset()
