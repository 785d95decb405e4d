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

    def __init__(self, settings_name: str, *, fallback: str | None = None):
        self.settings_name = settings_name
        # The embedded adapter that answers when a remote projection fails (search degrades
        # instead of failing); the caller never names a concrete adapter.
        self.fallback_backend = fallback
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

    def fallback(self, alias: str = "default"):
        """The embedded stand-in for ``alias`` when that backend fails, or None when ``alias``
        already is the embedded adapter (or the port has none)."""
        if self.fallback_backend is None:
            return None
        fallback_class = import_string(self.fallback_backend)
        if type(self[alias]) is fallback_class:
            return None
        if not hasattr(self._connections, "fallback"):
            self._connections.fallback = fallback_class(alias="fallback")
        return self._connections.fallback

    def configured(self):
        """(alias, backend) for every configured alias, built on demand."""
        return [(alias, self[alias]) for alias in self.settings]


graph_stores = BackendHandler("GRAPH_STORES", fallback="apps.search.backends.graph.embedded.EmbeddedGraphStore")
vector_stores = BackendHandler("VECTOR_STORES", fallback="apps.search.backends.vectors.embedded.EmbeddedVectorStore")
embedders = BackendHandler("EMBEDDERS")
extractors = BackendHandler("EXTRACTORS")

HANDLERS = {h.settings_name: h for h in (graph_stores, vector_stores, embedders, extractors)}


@receiver(setting_changed)
def reset_backends_on_setting_change(*, setting, **kwargs):
    handler = HANDLERS.get(setting)
    if handler is not None:
        handler.reset()
