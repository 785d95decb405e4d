"""Serializer fields shared by every API app."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.netguard import HTTP_URL_PATTERN


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, booleans, lists and objects instead of turning them into text.

    DRF's CharField accepts ``{"name": 5}`` as ``"5"``; the schema says ``string``, so a client sending
    anything else has a bug worth reporting.
    """

    default_error_messages = {"not_a_string": "Send a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "minLength": 1, "pattern": r"\S"})
class NonBlankCharField(StrictCharField):
    """Text with something besides whitespace, kept as sent (no trimming): the schema's ``pattern``
    says what the service checks, so a client generator never sends a blank one expecting success."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


@extend_schema_field({"type": "string", "pattern": HTTP_URL_PATTERN})
class HttpUrlField(StrictCharField):
    """An http(s) URL; the schema states ``apps.core.netguard.HTTP_URL_PATTERN``. The service that
    takes it checks it (``netguard.check_url``: scheme, host, credentials, IDNA; then where it
    points), and also takes what the pattern leaves out: IP literals, international host names."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
