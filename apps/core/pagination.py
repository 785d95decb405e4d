"""Pagination with bounds: ``limit`` is an integer in 1..``MAX_LIMIT`` and ``offset`` an integer
>= 0, anything else is a 400 that says which (DRF would silently fall back to the defaults).
An offset past any real table answers an empty page instead of overflowing the database's
bigint. The OpenAPI schema carries the same bounds."""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 500
MAX_OFFSET = 2**62  # below PostgreSQL's bigint limit; no table here comes close
_DIGITS = re.compile(r"^[0-9]+$")


def _query_int(request, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
    if not _DIGITS.match(raw) or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        raise ValidationError({name: [f"Must be an integer {bounds}."]})
    return int(raw)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_limit(self, request):
        limit = _query_int(request, self.limit_query_param, minimum=1, maximum=self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        offset = _query_int(request, self.offset_query_param, minimum=0)
        return 0 if offset is None else min(offset, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"].update(minimum=1, maximum=self.max_limit, default=self.default_limit)
        limit["description"] = f"Rows per page, 1..{self.max_limit} (default {self.default_limit})."
        offset["schema"].update(minimum=0, default=0)
        offset["description"] = "Rows to skip; past the end gives an empty page."
        return [limit, offset]

    def get_paginated_response_schema(self, schema):
        envelope = super().get_paginated_response_schema(schema)
        envelope["required"] = ["count", "next", "previous", "results"]
        envelope["properties"]["count"]["minimum"] = 0
        return envelope
