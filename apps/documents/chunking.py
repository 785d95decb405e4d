"""Split a version's clean text into citable chunks: every chunk is ``text[start:end]``.

Chunks end at the best break inside the size window (paragraph, then line, then
sentence, then word) and consecutive chunks overlap by about ``overlap`` characters,
starting on a word. For paged documents (PDF) chunks never cross a page, so each
carries its page number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apps.documents.errors import PermanentError

MAX_CHUNKS = 50_000
_BREAKS = (re.compile(r"\n\n"), re.compile(r"\n"), re.compile(r"[.!?;:]\s"), re.compile(r"\s"))


@dataclass(frozen=True)
class ChunkSpan:
    start: int
    end: int
    page: int | None = None


def _break_at(text: str, start: int, limit: int, minimum: int) -> int:
    """Where to end a chunk that may not go past ``limit``: after the best break found past ``minimum``."""
    for pattern in _BREAKS:
        last = None
        for match in pattern.finditer(text, minimum, limit):
            last = match
        if last is not None:
            return last.end()
    return limit


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _spans(text: str, start: int, stop: int, *, size: int, overlap: int, page: int | None) -> list[ChunkSpan]:
    spans: list[ChunkSpan] = []
    position = start
    while position < stop:
        limit = min(position + size, stop)
        end = limit if limit == stop else _break_at(text, position, limit, position + size // 2)
        chunk_start, chunk_end = _trimmed(text, position, end)
        if chunk_end > chunk_start:
            spans.append(ChunkSpan(chunk_start, chunk_end, page))
        if end >= stop:
            break
        # Step back for the overlap, then forward to the start of a word.
        next_position = max(end - overlap, position + 1)
        if next_position < end:
            space = text.find(" ", next_position, end)
            newline = text.find("\n", next_position, end)
            candidates = [i for i in (space, newline) if i != -1]
            next_position = min(candidates) + 1 if candidates else end
        position = next_position
    return spans


def chunk_text(
    text: str, *, size: int, overlap: int, sections: list[tuple[int, int, int | None]] | None = None
) -> list[ChunkSpan]:
    """Chunks of ``text``; ``sections`` are (start, end, page) ranges that chunks must not cross."""
    overlap = min(overlap, size // 3)
    sections = sections or [(0, len(text), None)]
    spans: list[ChunkSpan] = []
    for start, end, page in sections:
        spans.extend(_spans(text, start, end, size=size, overlap=overlap, page=page))
        if len(spans) > MAX_CHUNKS:
            raise PermanentError(
                f"The document is too long: more than {MAX_CHUNKS} chunks of {size} characters.", code="too_large"
            )
    return spans
