"""Request parsers that turn hostile JSON into a 400 instead of a crash."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """JSON nested deeper than Python's recursion limit (50,000 ``[`` are a 50 KB body)
    makes the decoder raise RecursionError: answered as a parse error like any bad JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
