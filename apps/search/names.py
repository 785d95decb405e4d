"""Entity names as people write them: any script's letters, no stray brackets or punctuation.

Every extractor passes the spans it found through ``clean_span``: an NER model or a
pattern that stops one token short of a closing bracket ("Arabica (Coffea") or takes
a trailing comma or quote along must not turn that into an entity name. Letters are
Unicode letters ("Warré", "São Paulo", "Dvořák"), not ASCII.
"""

from __future__ import annotations

import unicodedata

BRACKETS = {"(": ")", "[": "]", "{": "}"}
CLOSING = {close: open_ for open_, close in BRACKETS.items()}
QUOTES = "\"'“”‘’«»„"
# Punctuation that may end a name ("Inc.", "Yahoo!") only when a letter precedes it.
TRAILING_KEPT = {".", "!"}
MAX_NAME = 200


def is_word_char(ch: str) -> bool:
    """A letter, a digit or a combining mark, in any script."""
    return unicodedata.category(ch)[0] in ("L", "N", "M")


def _unbalanced(text: str) -> list[int]:
    """Positions of brackets without a partner (an opening one never closed, a closing one never opened)."""
    stack: list[int] = []
    orphans: list[int] = []
    for i, ch in enumerate(text):
        if ch in BRACKETS:
            stack.append(i)
        elif ch in CLOSING:
            if stack and text[stack[-1]] == CLOSING[ch]:
                stack.pop()
            else:
                orphans.append(i)
    return sorted(orphans + stack)


def clean_span(text: str, start: int, end: int, *, keep_abbreviation_dot: bool = True) -> tuple[int, int]:
    """Narrow ``text[start:end]`` to a clean name; ``(start, start)`` when nothing name-like is left.

    Strips whitespace, quotes and punctuation at both ends, and cuts the span before an
    unbalanced bracket ("Arabica (Coffea" -> "Arabica"; "Coffea)" -> "Coffea"); balanced
    brackets stay ("Python (programming language)")."""
    changed = True
    while changed and start < end:
        changed = False
        span = text[start:end]
        orphans = _unbalanced(span)
        if orphans:
            first = orphans[0]
            # Keep the longer side of the first stray bracket, then clean again.
            if first >= len(span) - first - 1:
                end = start + first
            else:
                start = start + first + 1
            changed = True
            continue
        while start < end and not is_word_char(text[start]) and text[start] not in BRACKETS:
            start += 1
            changed = True
        while start < end and not is_word_char(text[end - 1]) and text[end - 1] not in CLOSING:
            if (
                keep_abbreviation_dot
                and text[end - 1] in TRAILING_KEPT
                and end - start > 1
                and is_word_char(text[end - 2])
            ):
                if text[end - 1] == "!" or _is_abbreviation(text[start : end - 1]):
                    break
            end -= 1
            changed = True
    # A lowercase article the model took along ("the Hubble Space Telescope"); a capitalised
    # "The" is part of names ("The Beatles") and stays.
    for article in ("the ", "a ", "an "):
        if text.startswith(article, start) and end - start > len(article):
            start += len(article)
            break
    if start >= end or not any(unicodedata.category(ch)[0] == "L" for ch in text[start:end]):
        return start, start
    return start, min(end, start + MAX_NAME)


def _is_abbreviation(name: str) -> bool:
    """The last word is an abbreviation whose dot belongs to it ("Inc.", "Corp.", "U.S.")."""
    last = name.split()[-1] if name.split() else ""
    return last.casefold() in {"inc", "corp", "co", "ltd", "jr", "sr", "st", "bros"} or ("." in last and len(last) <= 6)


def clean_name(name: str) -> str:
    """``clean_span`` applied to a whole string (names that come without a text, e.g. from an LLM)."""
    start, end = clean_span(name, 0, len(name))
    return name[start:end]
