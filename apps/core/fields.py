"""Serializer fields shared by every API app."""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.netguard import HTTP_URL_PATTERN


class StrictTypeMixin:
    """Refuse numbers, booleans, lists and objects instead of turning them into text."""

    default_error_messages = {"not_a_string": "Send a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictCharField(StrictTypeMixin, serializers.CharField):
    """A CharField that refuses numbers, booleans, lists and objects instead of turning them into text.

    DRF's CharField accepts ``{"name": 5}`` as ``"5"``; the schema says ``string``, so a client sending
    anything else has a bug worth reporting.
    """


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that takes only a JSON integer: DRF would also read ``"5"``, ``5.0`` and
    ``true``, which the schema's ``integer`` does not allow. Query strings are typed by their view."""

    default_error_messages = {"not_an_integer": "Send an integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes only ``true`` or ``false``: DRF would also read ``0``, ``"yes"``..."""

    default_error_messages = {"not_a_boolean": "Send true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class StrictSlugField(StrictTypeMixin, serializers.SlugField):
    """A SlugField that refuses ``5`` rather than reading it as ``"5"`` (the schema says string)."""


_NOT_BLANK = re.compile(r"\S")


@extend_schema_field({"type": "string", "minLength": 1, "pattern": r"\S"})
class NonBlankCharField(StrictCharField):
    """Text with something besides whitespace, kept as sent (no trimming): the schema's ``pattern``
    says what the field checks (with Python's ``\\S``, as a schema validator written in Python)."""

    default_error_messages = {"blank": "This field may not be blank or only whitespace."}
    # False where the service refuses blank text itself with its own code (intake's "empty").
    refuse_whitespace = True

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if self.refuse_whitespace and value and not _NOT_BLANK.search(value):
            self.fail("blank")
        return value


@extend_schema_field({"type": "string", "pattern": HTTP_URL_PATTERN})
class HttpUrlField(StrictCharField):
    """An http(s) URL; the schema states ``apps.core.netguard.HTTP_URL_PATTERN``. The service that
    takes it checks it (``netguard.check_url``: scheme, host, credentials, IDNA; then where it
    points), and also takes what the pattern leaves out: IP literals, international host names."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
