"""Text analysis shared by the keyword engine and highlighting: one definition of a term.

Lowercase, ``\\b\\w\\w+\\b`` tokens, English stopwords (bm25s' list), Snowball English stemmer
(PyStemmer). The engine indexes these terms pre-analyzed (a whitespace tokenizer), so the
index, the query and the highlights agree exactly.
"""

from __future__ import annotations

import re
import threading

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset(STOPWORDS_EN)

_stems: dict[str, str] = {}
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not safe to share between threads.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def stem(word: str) -> str:
    result = _stems.get(word)
    if result is None:
        result = _stemmer().stemWord(word)
        if len(_stems) < 2_000_000:
            _stems[word] = result
    return result


def analyze(text: str) -> list[str]:
    """The terms of a text as the index sees them."""
    return [stem(w) for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]
