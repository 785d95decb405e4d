"""What the OpenAPI schema says about every operation, beyond what each view declares.

Every error answer has the one shape of ``apps.core.errors``; the schema documents it for
each status an operation can really answer:

- 400 (bad query, body or NUL byte), 401 (no or bad credentials), 414 (a request line over
  gunicorn's 4,094 bytes) and 429 (throttled): all;
- 404: operations with a path parameter (another domain's object is a 404 too);
- 403, 413 (body over the limit) and 415 (a body type no parser reads): operations that
  write;
- anything else (409, a 403 on a read): declared by the view, e.g.
  ``responses={409: OpenApiResponse(description="...")}``; the error body is filled in here.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `invalid` with per-field `detail`, `parse_error`, or `bad_request`.",
    "401": "No or bad credentials (`not_authenticated`, `authentication_failed`, `token_not_valid`).",
    "403": "The caller can see the object but its role does not allow this (`permission_denied`).",
    "404": "Not found, or in a domain the caller cannot read (`not_found`).",
    "409": "The object's current state refuses the request (`conflict`).",
    "413": "The request body or document is larger than the limit (`too_large`).",
    "414": "The request line (method, path and query) is over 4,094 bytes (`uri_too_long`, from the web server).",
    "415": "A body type the endpoint does not read, or content that does not match its name.",
    "429": "Too many requests (`throttled`, `locked_out`); `Retry-After` says when to try again.",
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SLUG_PATTERN = "^[-a-zA-Z0-9_]+$"


@extend_schema_field({"oneOf": [{"type": "object", "additionalProperties": True}, {"type": "array", "items": {}}]})
class ErrorDetailField(serializers.JSONField):
    """Per-field messages (`{"name": ["This field is required."]}`) or a list of messages."""


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: `invalid`, `not_found`, `throttled`...")
    message = serializers.CharField(help_text="For people.")
    request_id = serializers.CharField(help_text="Also in the `X-Request-ID` header and the log lines.")
    detail = ErrorDetailField(required=False, help_text="Per-field validation messages, when there are any.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def _error_codes(method: str, path: str) -> set[str]:
    codes = {"400", "401", "414", "429"}
    if "{" in path:
        codes.add("404")
    if method in WRITE_METHODS:
        codes |= {"403", "413", "415"}
    return codes


class HeyshAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in sorted(_error_codes(self.method, self.path) | {c for c in responses if c >= "400"}):
            described = responses.get(code, {})
            if "content" in described:
                continue
            description = described.get("description") or ERROR_DESCRIPTIONS.get(code, "Error.")
            responses[code] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
            )
        return responses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """What DRF checks that drf-spectacular leaves out: a trimmed, non-blank CharField needs
        a non-whitespace character (``pattern``; the NUL rule is added by the hook below), and a
        list serializer's ``max_length`` is the array's ``maxItems``."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or not isinstance(schema, dict):
            return schema
        if isinstance(field, serializers.SlugField) and "pattern" not in schema:
            schema["pattern"] = SLUG_PATTERN  # drf-spectacular leaves it out for a list's child
        if (
            isinstance(field, serializers.CharField) and field.trim_whitespace and not field.allow_blank
            and schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema)
        ):
            schema["pattern"] = r"\S"
        if isinstance(field, serializers.ListSerializer) and field.max_length is not None:
            schema["maxItems"] = field.max_length
        return schema

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        """A request serializer's ``exactly_one_of`` / ``at_most_one_of`` field names become
        ``oneOf`` / ``not`` constraints (the serializer's ``validate`` enforces the same)."""
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction != "request":
            return schema
        if names := getattr(serializer, "exactly_one_of", None):
            schema["oneOf"] = [{"required": [name]} for name in names]
        if names := getattr(serializer, "at_most_one_of", None):
            schema["not"] = {"anyOf": [{"required": [a, b]} for i, a in enumerate(names) for b in names[i + 1 :]]}
        return schema


# DRF's CharField refuses a NUL character in any request string (PostgreSQL cannot store one), and
# so does the NUL guard of query strings (apps.core.middleware): every request string says so.
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK_NO_NUL = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


def _refuse_nul(schema) -> None:
    if isinstance(schema, list):
        for item in schema:
            _refuse_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
        pattern = schema.get("pattern")
        if pattern is None:
            schema["pattern"] = NO_NUL
        elif pattern == r"\S":
            schema["pattern"] = NOT_BLANK_NO_NUL
    for key in ("properties", "items", "oneOf", "anyOf", "allOf", "additionalProperties"):
        value = schema.get(key)
        if key == "properties" and isinstance(value, dict):
            _refuse_nul(list(value.values()))
        elif value is not None:
            _refuse_nul(value)


def refuse_nul_in_request_strings(result, generator, request, public):
    """drf-spectacular postprocessing hook: request bodies' and parameters' strings exclude NUL;
    a ``{slug}`` path parameter has the slug pattern."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _refuse_nul(component)
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                if parameter["in"] == "path" and parameter["name"] == "slug" and schema.get("type") == "string":
                    schema.setdefault("pattern", SLUG_PATTERN)  # a domain's slug; anything else is a 404
                _refuse_nul(schema)
            for content in (operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}).values():
                _refuse_nul(content.get("schema"))
    return result
