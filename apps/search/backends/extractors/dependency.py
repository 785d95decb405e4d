"""Typed relations read off a dependency parse (spaCy's ClearNLP-style labels).

Given one parsed sentence and the entities in it, four patterns give relations:

- subject-verb-object: "NASA launched Hubble" -> (NASA, launch, Hubble); the passive
  "Hubble was launched by NASA" gives the same triple;
- verb + preposition: "X was born in Y", "X is located in Y", "X works for Y";
- copular: "X is part of Y", "X is the capital of Y", "X is a Y";
- apposition: "X, the director of Y", "X, a subsidiary of Y".

Each triple is normalised to the small vocabulary of RelationType ("founded by",
"located in", "part of", "born in"...) when its verb or noun says so, or kept as
``acts_on`` with the verb's lemma as the predicate ("discover", "launch"), so the
graph can be filtered by type and still show what the sentence said. Every relation
keeps its sentence as evidence and the sentence's offsets in the chunk.
"""

from __future__ import annotations

from apps.search.backends.types import ExtractedEntity, ExtractedRelation

# verb lemma -> (relation type, the subject is the relation's target)
VERB_TYPES: dict[str, tuple[str, bool]] = {
    "use": ("uses", False),
    "utilize": ("uses", False),
    "adopt": ("uses", False),
    "found": ("founded_by", True),
    "co-found": ("founded_by", True),
    "cofound": ("founded_by", True),
    "establish": ("founded_by", True),
    "create": ("created_by", True),
    "develop": ("created_by", True),
    "invent": ("created_by", True),
    "design": ("created_by", True),
    "write": ("created_by", True),
    "compose": ("created_by", True),
    "build": ("created_by", True),
    "discover": ("created_by", True),
    "produce": ("created_by", True),
    "cause": ("causes", False),
    "contain": ("part_of", True),
    "include": ("part_of", True),
    "comprise": ("part_of", True),
    "own": ("part_of", True),
    "acquire": ("part_of", True),
    "join": ("works_for", False),
    "employ": ("works_for", True),
    "lead": ("works_for", False),
    "head": ("works_for", False),
    "direct": ("works_for", False),
    "manage": ("works_for", False),
}
# (verb lemma, preposition) -> (relation type, the subject is the relation's target)
PREP_TYPES: dict[tuple[str, str], tuple[str, bool]] = {
    ("bear", "in"): ("born_in", False),
    ("bear", "at"): ("born_in", False),
    ("locate", "in"): ("located_in", False),
    ("locate", "at"): ("located_in", False),
    ("base", "in"): ("located_in", False),
    ("headquarter", "in"): ("located_in", False),
    ("situate", "in"): ("located_in", False),
    ("live", "in"): ("located_in", False),
    ("lie", "in"): ("located_in", False),
    ("settle", "in"): ("located_in", False),
    ("work", "for"): ("works_for", False),
    ("work", "at"): ("works_for", False),
    ("work", "with"): ("related_to", False),
    ("play", "for"): ("works_for", False),
    ("belong", "to"): ("part_of", False),
    ("sign", "with"): ("works_for", False),
    ("study", "at"): ("part_of", False),
    ("graduate", "from"): ("part_of", False),
    ("die", "in"): ("located_in", False),
}
# A noun naming the relation in "X is the N of Y" / "X, the N of Y".
NOUN_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "part",
            "member",
            "subsidiary",
            "division",
            "component",
            "branch",
            "unit",
            "module",
            "department",
            "section",
            "album",
            "single",
            "song",
            "episode",
            "province",
            "state",
            "district",
            "region",
            "suburb",
            "county",
        ),
        "part_of",
    ),
    **dict.fromkeys(("capital", "city", "town", "village", "seat", "neighbourhood", "neighborhood"), "located_in"),
    **dict.fromkeys(
        (
            "director",
            "president",
            "ceo",
            "chairman",
            "chair",
            "head",
            "leader",
            "founder",
            "member",
            "employee",
            "professor",
            "manager",
            "coach",
            "captain",
            "minister",
            "secretary",
            "editor",
            "governor",
            "mayor",
            "king",
            "queen",
            "emperor",
            "general",
            "commander",
            "chief",
            "guitarist",
            "singer",
            "drummer",
            "bassist",
            "player",
            "vocalist",
            "owner",
            "partner",
        ),
        "works_for",
    ),
    **dict.fromkeys(("type", "kind", "form", "example", "instance", "version"), "instance_of"),
}
NOUN_TYPES["founder"] = "founded_by_reversed"
SUBJECTS = {"nsubj", "nsubjpass", "csubj"}
OBJECTS = {"dobj", "obj", "dative"}
MAX_PREDICATE = 60


def _entity_spans(doc, entities: list[ExtractedEntity], offset: int) -> list[tuple[ExtractedEntity, set[int], int]]:
    """(entity, its token indices, its head token index) in the sentence doc."""
    out = []
    for entity in entities:
        span = doc.char_span(entity.start - offset, entity.end - offset, alignment_mode="expand")
        if span is None or not len(span):
            continue
        out.append((entity, {t.i for t in span}, span.root.i))
    return out


def _with_conjuncts(token) -> list:
    """A token and the tokens joined to it by "and"/"or" ("Jobs and Wozniak founded Apple")."""
    return [token, *[t for t in token.conjuncts]]


def relations(doc, entities: list[ExtractedEntity], *, offset: int = 0) -> list[ExtractedRelation]:
    """Relations between ``entities`` (offsets in the chunk) found in the parsed sentence ``doc``
    (which starts at chunk offset ``offset``)."""
    spans = _entity_spans(doc, entities, offset)
    if len(spans) < 2:
        return []
    by_token: dict[int, ExtractedEntity] = {}
    for entity, tokens, _ in spans:
        for i in tokens:
            by_token.setdefault(i, entity)

    def entity_at(token) -> ExtractedEntity | None:
        return by_token.get(token.i)

    evidence = doc.text.strip()[:1000]
    start = offset + (len(doc.text) - len(doc.text.lstrip()))
    end = start + len(evidence)
    found: dict[tuple[str, str, str, str], ExtractedRelation] = {}

    def add(source: ExtractedEntity | None, target: ExtractedEntity | None, rel_type: str, predicate: str) -> None:
        if source is None or target is None or source is target or source.name.casefold() == target.name.casefold():
            return
        if rel_type == "founded_by_reversed":
            source, target, rel_type = target, source, "founded_by"
        key = (source.name, target.name, rel_type, predicate)
        if key not in found:
            found[key] = ExtractedRelation(
                source=source.name,
                target=target.name,
                type=rel_type,
                evidence=evidence,
                predicate=predicate[:MAX_PREDICATE],
                start=start,
                end=end,
            )

    def typed(lemma: str, subject, obj, *, passive: bool) -> None:
        """Subject and object of the verb ``lemma``, as written; ``passive``: the subject is the patient."""
        agent, patient = (obj, subject) if passive else (subject, obj)
        rel_type, reverse = VERB_TYPES.get(lemma, ("acts_on", False))
        if reverse:
            add(patient, agent, rel_type, lemma)
        else:
            add(agent, patient, rel_type, lemma)

    for verb in doc:
        if verb.pos_ not in ("VERB", "AUX"):
            continue
        lemma = verb.lemma_.casefold()
        subjects = [t for c in verb.children if c.dep_ in SUBJECTS for t in _with_conjuncts(c)]
        if not subjects and verb.dep_ == "conj" and verb.head.pos_ in ("VERB", "AUX"):
            subjects = [t for c in verb.head.children if c.dep_ in SUBJECTS for t in _with_conjuncts(c)]
        if not subjects:
            continue
        for subject_token in subjects:
            subject = entity_at(subject_token)
            if subject is None:
                continue
            for child in verb.children:
                if child.dep_ in OBJECTS:
                    for obj in _with_conjuncts(child):
                        typed(lemma, subject, entity_at(obj), passive=False)
                elif child.dep_ == "agent":  # "... was founded by X"
                    for pobj in (t for c in child.children if c.dep_ == "pobj" for t in _with_conjuncts(c)):
                        typed(lemma, subject, entity_at(pobj), passive=True)
                elif child.dep_ == "prep":
                    prep = child.lemma_.casefold()
                    for pobj in (t for c in child.children if c.dep_ == "pobj" for t in _with_conjuncts(c)):
                        rel_type, reverse = PREP_TYPES.get((lemma, prep), ("", False))
                        if not rel_type:
                            if lemma == "be":
                                continue  # "X is in Y" says too little
                            rel_type = "acts_on"
                        if reverse:
                            add(entity_at(pobj), subject, rel_type, f"{lemma} {prep}")
                        else:
                            add(subject, entity_at(pobj), rel_type, f"{lemma} {prep}")
                elif child.dep_ in ("attr", "acomp", "oprd") and lemma == "be":
                    _copular(child, subject, entity_at, add)
    for entity, tokens, head in spans:
        for child in doc[head].children:
            if child.dep_ == "appos" and child.i not in tokens:
                _apposition(entity, child, entity_at, add)
    return list(found.values())


def _noun_of(noun, entity_at) -> list:
    """The entities of "N of Y" after a noun: [(entity, noun lemma)]."""
    out = []
    for prep in noun.children:
        if prep.dep_ == "prep" and prep.lemma_.casefold() in ("of", "for", "at", "in"):
            for pobj in (t for c in prep.children if c.dep_ == "pobj" for t in _with_conjuncts(c)):
                target = entity_at(pobj)
                if target is not None:
                    out.append((target, f"{noun.lemma_.casefold()} {prep.lemma_.casefold()}"))
    return out


def _copular(attr, subject, entity_at, add) -> None:
    """ "X is the capital of Y", "X is part of Y", "X is a Y"."""
    same = entity_at(attr)
    if same is not None:
        add(subject, same, "instance_of", "be")
        return
    for target, predicate in _noun_of(attr, entity_at):
        add(subject, target, NOUN_TYPES.get(attr.lemma_.casefold(), "related_to"), predicate)


def _apposition(entity, appos, entity_at, add) -> None:
    """ "X, the director of Y": the apposed noun names the relation to Y."""
    other = entity_at(appos)
    if other is not None and other is not entity:
        if entity.type == "location" and other.type == "location":
            add(entity, other, "located_in", "appos")  # "Paris, France"
        return
    for target, predicate in _noun_of(appos, entity_at):
        add(entity, target, NOUN_TYPES.get(appos.lemma_.casefold(), "related_to"), predicate)
