"""Admin form widgets shared by every app, styled by the admin theme (unfold).

``StringListField`` edits a JSON list of strings (an entity's aliases) as one text input
per item with add and remove buttons, instead of a raw JSON textarea. The buttons are
Alpine.js attributes (unfold loads Alpine on every admin page), so no inline script is
needed under the Content-Security-Policy; without JavaScript an empty input at the end
still lets an editor add one item per save, and clearing an input removes its item.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from unfold.widgets import INPUT_CLASSES


class StringListWidget(forms.Widget):
    """One ``<input name=…>`` per item, all with the same name; the browser posts them as a list."""

    template_name = "core/widgets/string_list.html"

    def __init__(self, attrs=None, *, add_label: str = "Add"):
        super().__init__(attrs)
        self.add_label = add_label

    def format_value(self, value):
        if value is None or value == "":
            return []
        if isinstance(value, str):  # a re-rendered invalid form may hand back the raw text
            return [value]
        return [str(item) for item in value]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"].update({"items": self.format_value(value), "input_class": " ".join(INPUT_CLASSES),
                                  "add_label": self.add_label})
        return context

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)

    def value_omitted_from_data(self, data, files, name):
        return False  # an empty list posts no input at all: that clears the list, it is not "omitted"


class StringListField(forms.Field):
    """A list of distinct, trimmed, non-empty strings; blank inputs are dropped.

    Duplicates are compared case-insensitively ("HST" and "hst" are the same alias) and
    refused with the offending item named, rather than silently folded.
    """

    widget = StringListWidget
    default_error_messages = {
        "duplicate": "“%(item)s” is listed twice.",
        "too_long": "“%(item)s…” is longer than %(max_length)d characters.",
        "not_a_list": "Enter a list of texts.",
    }

    def __init__(self, *, max_length: int | None = None, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.max_length = max_length

    def to_python(self, value) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            raise ValidationError(self.error_messages["not_a_list"], code="not_a_list")
        return [item.strip() for item in value if item.strip()]

    def validate(self, value) -> None:
        super().validate(value)
        seen: set[str] = set()
        for item in value:
            if self.max_length is not None and len(item) > self.max_length:
                raise ValidationError(self.error_messages["too_long"], code="too_long",
                                      params={"item": item[:40], "max_length": self.max_length})
            if item.casefold() in seen:
                raise ValidationError(self.error_messages["duplicate"], code="duplicate", params={"item": item})
            seen.add(item.casefold())

    def prepare_value(self, value):
        return value if isinstance(value, (list, tuple)) else self.widget.format_value(value)

    def has_changed(self, initial, data) -> bool:
        try:
            return self.to_python(initial or []) != self.to_python(data)
        except ValidationError:
            return True
