from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self):
        from apps.core import backends, checks  # noqa: F401  (register signal receivers and system checks)
