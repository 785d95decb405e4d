"""Offline entity and relation extraction by rules: no model, no download, deterministic.

Entities are capitalized (multi-word) noun phrases, acronyms, CamelCase and
letter-digit technical tokens ("PostgreSQL", "Neo4j", "S3") and words of a small
technology gazetteer. Types come from simple cues: a title before a name (person),
an organisational suffix ("Inc", "University"), a place word or a known place
(location), an event word, a technical shape or gazetteer hit (technology);
anything else is a concept. Relations: a few verb patterns between two entities of
a sentence ("X uses Y", "X is part of Y", "X was founded by Y", ...) and, for the
other pairs of a sentence, co-occurrence typed RELATED_TO.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import combinations

from apps.search.backends.extractors.base import Extractor
from apps.search.backends.types import ExtractedEntity, ExtractedRelation, Extraction
from apps.search.names import clean_span

TECH_WORDS = {
    "python", "django", "celery", "postgresql", "postgres", "mysql", "sqlite", "redis", "neo4j", "weaviate",
    "kubernetes", "docker", "linux", "java", "javascript", "typescript", "rust", "golang", "kafka", "rabbitmq",
    "elasticsearch", "opensearch", "numpy", "pytorch", "tensorflow", "react", "vue", "nginx", "caddy", "graphql",
    "api", "apis", "http", "https", "sql", "json", "rest", "grpc", "tcp", "udp", "dns", "html", "css", "xml", "yaml",
    "gpu", "cpu", "llm", "ai", "ml", "nlp", "aws", "s3", "minio", "vault", "grafana", "prometheus", "git", "github",
    "transformer", "transformers", "bert", "gpt", "openai", "ollama", "hnsw", "faiss", "onnx", "spark", "hadoop",
}
TITLES = {"dr", "dr.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "prof", "prof.", "professor", "sir", "dame", "president", "ceo"}
ORG_WORDS = {
    "inc", "inc.", "corp", "corp.", "corporation", "ltd", "ltd.", "llc", "gmbh", "ag", "sa", "plc", "university",
    "institute", "foundation", "company", "association", "agency", "labs", "lab", "laboratory", "group", "bank",
    "council", "committee", "ministry", "department", "college", "school", "society", "organization",
    "organisation", "administration", "commission", "systems", "technologies", "software",
}
LOCATION_WORDS = {"city", "river", "mountain", "mountains", "lake", "island", "islands", "county", "state", "street",
                  "valley", "ocean", "sea", "bay", "province", "region", "republic", "kingdom", "park"}
PLACES = {
    "paris", "london", "berlin", "madrid", "rome", "tokyo", "beijing", "moscow", "washington", "california", "texas",
    "europe", "asia", "africa", "america", "australia", "germany", "france", "spain", "italy", "japan", "china",
    "india", "canada", "brazil", "mexico", "england", "scotland", "ireland", "netherlands", "sweden", "norway",
    "switzerland", "austria", "belgium", "poland", "russia", "boston", "chicago", "seattle", "amsterdam", "vienna",
    "new york", "san francisco", "los angeles", "united states", "united kingdom",
}
EVENT_WORDS = {"conference", "summit", "war", "olympics", "festival", "election", "championship", "symposium",
               "workshop", "revolution", "crisis"}
TECH_SUFFIXES = {"protocol", "framework", "language", "database", "engine", "algorithm", "api", "library", "server",
                 "platform", "toolkit"}
# Capitalized words that start sentences or headings without naming anything.
STOPWORDS = {
    "the", "a", "an", "this", "that", "these", "those", "it", "its", "in", "on", "at", "for", "from", "with", "by",
    "of", "and", "or", "but", "if", "when", "while", "where", "which", "who", "what", "why", "how", "we", "our",
    "you", "your", "they", "their", "he", "she", "his", "her", "i", "my", "as", "to", "is", "are", "was", "were",
    "be", "been", "there", "here", "then", "than", "so", "not", "no", "yes", "all", "each", "every", "some", "any",
    "many", "most", "more", "also", "however", "therefore", "thus", "after", "before", "during", "since", "until",
    "because", "although", "both", "either", "neither", "one", "two", "three", "first", "second", "new", "other",
    "such", "can", "may", "will", "should", "would", "could", "must", "do", "does", "did", "has", "have", "had",
    "figure", "table", "section", "chapter", "note", "see", "example", "introduction", "conclusion", "abstract",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
}
CONNECTORS = {"of", "for", "de", "the", "van", "von", "la", "del"}
ABBREVIATIONS = {"inc", "corp", "ltd", "co", "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "vs", "e.g", "i.e", "etc", "no", "fig"}

SENTENCE_END = re.compile(r"[.!?]+(?=\s)|\n")
# Letters of any script ("Warré", "Dvořák"), not ASCII only.
WORD = re.compile(r"[^\W\d_][\w'’\-]*\.?|[0-9]+")
CAMEL = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z0-9]*\b|\b[A-Z][a-z]*[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*\b")
ALNUM_TECH = re.compile(r"\b[A-Za-z][A-Za-z]*\d+[A-Za-z\d]*\b")
ACRONYM = re.compile(r"\b[A-Z][A-Z0-9&]{1,7}s?\b")

# (pattern between source and target, relation type, reversed?)
VERB_PATTERNS: tuple[tuple[re.Pattern, str, bool], ...] = tuple(
    (re.compile(rf"^\s*(?:{p})\s*(?:the\s+|a\s+|an\s+)?$", re.IGNORECASE), rel, rev)
    for p, rel, rev in (
        (r"(?:also\s+)?(?:uses|use|used|using|relies on|rely on|is built on|are built on|built on|runs on|run on|is written in|written in|is powered by|powered by|depends on)", "uses", False),
        (r"(?:is|are|was|were)\s+(?:a\s+)?(?:part|component|member|module|subsidiary)\s+of|part of|belongs to|belong to", "part_of", False),
        (r"(?:is|are|was|were)\s+(?:located|based|headquartered)\s+in|located in|based in|headquartered in", "located_in", False),
        (r"works for|worked for|works at|worked at|is employed by|was employed by|joined|leads|led", "works_for", False),
        (r"(?:was|were|is|are)\s+(?:created|developed|founded|invented|designed|written|built)\s+by|created by|developed by|founded by|invented by|designed by", "created_by", False),
        (r"created|developed|founded|invented|designed|co-founded", "created_by", True),
        (r"is a|is an|are|was a|was an|is a type of|is a kind of", "instance_of", False),
        (r"causes|caused|leads to|led to|results in|resulted in", "causes", False),
    )
)
MAX_ENTITIES_PER_SENTENCE = 8
KIND_PRIORITY = {"person": 0, "technology": 1, "acronym": 2, "phrase": 3}


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans; a period after a title or common abbreviation ("Dr.", "Inc.") ends none."""
    spans, start = [], 0
    for m in SENTENCE_END.finditer(text):
        if m.group().startswith("."):
            word = re.search(r"(\S+)$", text[start:m.start()])
            token = word.group(1).lower() if word else ""
            if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue
        if text[start:m.end()].strip():
            spans.append((start, m.end()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _word_key(word: str) -> str:
    return word.lower().rstrip(".")


class RuleExtractor(Extractor):
    name = "rules"
    prompt_version = "rules-1"
    model = "rules"
    batch_size = 1000  # microseconds per text: one cache insert per delivery, not one per 16 chunks

    def extract(self, texts: Sequence[str]) -> list[Extraction]:
        return [self._extract_one(text) for text in texts]

    # --- entities --------------------------------------------------------------------
    def _candidates(self, text: str, start: int, end: int) -> list[tuple[int, int, str]]:
        sentence = text[start:end]
        spans: list[tuple[int, int, str]] = []
        for pattern, kind in ((CAMEL, "technology"), (ALNUM_TECH, "technology"), (ACRONYM, "acronym")):
            for m in pattern.finditer(sentence):
                spans.append((start + m.start(), start + m.end(), kind))
        words = list(WORD.finditer(sentence))
        for m in words:
            if _word_key(m.group()) in TECH_WORDS:
                spans.append((start + m.start(), start + m.end() - m.group().endswith("."), "technology"))
        spans.extend(self._capitalized_phrases(text, start, words))
        return spans

    def _capitalized_phrases(self, text: str, offset: int, words: list[re.Match]) -> list[tuple[int, int, str]]:
        phrases, current = [], []
        for index, m in enumerate(words):
            word = m.group()
            capital = word[0].isupper()
            if capital and not (index == 0 and _word_key(word) in STOPWORDS) and _word_key(word) not in STOPWORDS - TITLES:
                current.append(m)
                continue
            if current and _word_key(word) in CONNECTORS and index + 1 < len(words) and words[index + 1].group()[0].isupper():
                current.append(m)
                continue
            if current:
                phrases.append(current)
            current = []
        if current:
            phrases.append(current)
        spans = []
        for phrase in phrases:
            while phrase and _word_key(phrase[-1].group()) in CONNECTORS:
                phrase = phrase[:-1]
            if not phrase:
                continue
            first_is_title = _word_key(phrase[0].group()) in TITLES
            body = phrase[1:] if first_is_title else phrase
            if not body:
                continue
            s, e = offset + body[0].start(), offset + body[-1].end()
            if text[e - 1] == "." and _word_key(body[-1].group()) not in ABBREVIATIONS:
                e -= 1
            surface = text[s:e]
            if len(surface) < 2 or (len(body) == 1 and len(surface) < 3):
                continue
            starts_sentence = body[0].start() == words[0].start() if words else False
            if starts_sentence and len(body) == 1 and not ACRONYM.fullmatch(surface) and _word_key(surface) not in TECH_WORDS | PLACES:
                continue  # one capitalized word at a sentence start is usually just a capital
            spans.append((s, e, "person" if first_is_title else "phrase"))
        return spans

    @staticmethod
    def _type(surface: str, kind: str, before: str) -> str:
        words = [_word_key(w) for w in surface.split()]
        lowered = " ".join(words)
        if kind == "person":
            return "person"
        if kind == "technology" or lowered in TECH_WORDS:
            return "technology"
        if words[-1] in ORG_WORDS or words[0] == "university":
            return "organization"
        if lowered in PLACES or words[-1] in LOCATION_WORDS:
            return "location"
        if words[-1] in EVENT_WORDS or re.search(r"\b(19|20)\d\d$", lowered):
            return "event"
        if words[-1] in TECH_SUFFIXES:
            return "technology"
        if kind == "acronym":
            return "organization"
        if re.search(r"\b(in|at|from|near|to)\s*$", before, re.IGNORECASE) and len(words) <= 2:
            return "location"
        if len(words) in (2, 3) and all(w.isalpha() for w in words) and re.search(r"\b(said|says|wrote|argued)\b", before):
            return "person"
        return "concept"

    def _extract_one(self, text: str) -> Extraction:
        entities: list[ExtractedEntity] = []
        relations: list[ExtractedRelation] = []
        seen_relations: set[tuple[str, str, str]] = set()
        for start, end in sentences(text):
            spans = self._candidates(text, start, end)
            # Longest span wins where candidates overlap; among equals, the more specific kind.
            spans.sort(key=lambda s: (-(s[1] - s[0]), s[0], KIND_PRIORITY[s[2]]))
            chosen: list[tuple[int, int, str]] = []
            for span in spans:
                if all(span[1] <= c[0] or span[0] >= c[1] for c in chosen):
                    chosen.append(span)
            chosen.sort()
            in_sentence: list[ExtractedEntity] = []
            for s, e, kind in chosen:
                s, e = clean_span(text, s, e)
                surface = text[s:e]
                if not surface:
                    continue
                entity = ExtractedEntity(name=surface, type=self._type(surface, kind, text[max(0, s - 12):s]), start=s, end=e)
                entities.append(entity)
                in_sentence.append(entity)
            evidence = text[start:end].strip()[:300]
            self._relations(text, in_sentence[:MAX_ENTITIES_PER_SENTENCE], evidence, relations, seen_relations)
        return Extraction(entities=tuple(entities), relations=tuple(relations))

    # --- relations -------------------------------------------------------------------
    @staticmethod
    def _relations(text, entities, evidence, out, seen) -> None:
        typed_pairs: set[frozenset[str]] = set()
        for left, right in zip(entities, entities[1:], strict=False):
            between = text[left.end:right.start]
            for pattern, rel_type, reverse in VERB_PATTERNS:
                if pattern.match(between):
                    source, target = (right, left) if reverse else (left, right)
                    if rel_type == "located_in" and target.type != "location":
                        continue
                    key = (source.name.lower(), target.name.lower(), rel_type)
                    if key[0] != key[1] and key not in seen:
                        seen.add(key)
                        out.append(ExtractedRelation(source=source.name, target=target.name, type=rel_type, evidence=evidence))
                    typed_pairs.add(frozenset((left.name.lower(), right.name.lower())))
                    break
        for a, b in combinations(entities, 2):
            pair = frozenset((a.name.lower(), b.name.lower()))
            if len(pair) < 2 or pair in typed_pairs:
                continue
            source, target = sorted((a.name, b.name), key=str.lower)
            key = (source.lower(), target.lower(), "related_to")
            if key not in seen:
                seen.add(key)
                out.append(ExtractedRelation(source=source, target=target, type="related_to", evidence=evidence))
