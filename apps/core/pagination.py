"""Pagination with bounds: a page holds at most ``MAX_LIMIT`` rows whatever ``limit`` asks for,
and an offset past any real table answers an empty page instead of overflowing the
database's bigint."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 500
MAX_OFFSET = 2**62  # below PostgreSQL's bigint limit; no table here comes close


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request):
        return min(super().get_offset(request), MAX_OFFSET)
