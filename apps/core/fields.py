"""Serializer fields shared by every API app."""

from rest_framework import serializers


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
