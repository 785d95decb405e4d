"""Entity names are unicode-correct and trimmed of stray brackets and punctuation."""

from __future__ import annotations

import pytest

from apps.search.backends.extractors.rules import RuleExtractor
from apps.search.names import clean_name, clean_span


@pytest.mark.parametrize(
    "raw, name",
    [
        ("Warré", "Warré"),
        ("Arabica (Coffea", "Arabica"),
        ("Coffea)", "Coffea"),
        ("Python (programming language)", "Python (programming language)"),
        ('"Quoted,"', "Quoted"),
        ("São Paulo,", "São Paulo"),
        ("Acme Inc.", "Acme Inc."),
        ("Yahoo!", "Yahoo!"),
        ("Berlin.", "Berlin"),
        ("the Hubble Space Telescope", "Hubble Space Telescope"),
        ("The Beatles", "The Beatles"),
        ("(", ""),
        ("1999", ""),
    ],
)
def test_clean_name(raw, name):
    assert clean_name(raw) == name


def test_clean_span_returns_offsets_of_the_clean_name():
    text = "Grown as Arabica (Coffea in Ethiopia."
    start, end = clean_span(text, 9, 24)
    assert text[start:end] == "Arabica"


def test_rule_extractor_keeps_non_ascii_letters():
    (result,) = RuleExtractor().extract(["Émile Warré designed the Warré hive in Besançon."])
    names = {e.name for e in result.entities}
    assert "Émile Warré" in names and "Warr" not in " ".join(names).replace("Warré", "")
    assert "Besançon" in names
