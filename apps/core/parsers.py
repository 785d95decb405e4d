"""Request parsers that turn hostile JSON and multipart bodies into a clear 400."""

from __future__ import annotations

from django.http import multipartparser
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser


class BoundedJSONParser(JSONParser):
    """JSON nested deeper than Python's recursion limit (50,000 ``[`` are a 50 KB body)
    makes the decoder raise RecursionError: answered as a parse error like any bad JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class BoundedMultiPartParser(MultiPartParser):
    """Django reads the headers of each multipart part within 1,024 bytes; a longer part
    header (in practice a file name of about 950 characters) used to be reported as
    "Multipart form parse error". It gets a message that names the limit instead."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            if "max total header size" not in str(exc.detail):
                raise
            limit = multipartparser.MAX_TOTAL_HEADER_SIZE
            raise MultipartHeadersTooLarge(
                f"The headers of one part of the upload exceed {limit:,} bytes: keep the file name "
                "under 900 bytes (UTF-8)."
            ) from None


class MultipartHeadersTooLarge(ParseError):
    default_code = "file_name_too_long"
