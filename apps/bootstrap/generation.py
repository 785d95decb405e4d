"""Initial content of a domain: overview, key entities and an FAQ, every statement cited.

Extractive by default: key entities ranked by mention count plus degree centrality in
the domain's graph, each described by the sentence around a mention; the overview is
the sentences that mention the most key entities and topic words; the FAQ asks about
the top entities and the strongest relations between them and answers with the
evidence sentences. When an LLM is configured it rewrites the overview from numbered
passages and must cite them. A citation is ``{document_id, chunk_id, start, end, quote}``
with offsets inside the chunk's text.

A round is numbered by the review decisions that asked for changes, so a re-delivered
step rewrites the same round instead of adding one. Statements an editor edited in the
previous round are carried over unchanged.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from apps.bootstrap import llm
from apps.bootstrap.models import DomainBootstrap, GeneratedContent, ReviewDecision
from apps.documents.models import Chunk, DocumentStatus
from apps.search.models import Entity, Mention, Relation, RelationEvidence

KEY_ENTITIES = 8
OVERVIEW_SENTENCES = 4
FAQ_ENTRIES = 6
ENTITY_CITATIONS = 3  # chunks cited per key entity
# A question per relation type; the answer is the evidence sentence, cited.
QUESTIONS = {
    "located_in": "Where is {source}?",
    "born_in": "Where was {source} born?",
    "founded_by": "Who founded {source}?",
    "created_by": "Who created {source}?",
    "part_of": "What is {source} part of?",
    "works_for": "What is the connection between {source} and {target}?",
    "uses": "What does {source} use?",
}
MAX_CHUNKS = 400
SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")


@dataclass
class Sentence:
    text: str
    chunk_id: int
    document_id: int
    start: int
    end: int
    ordinal: int  # position of the chunk in its document

    def citation(self) -> dict:
        return {"document_id": self.document_id, "chunk_id": self.chunk_id, "start": self.start, "end": self.end,
                "quote": self.text}


def sentences_of(chunk) -> list[Sentence]:
    found = []
    for match in SENTENCE.finditer(chunk.text):
        raw = match.group(0)
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        if len(text) < 20:
            continue
        start = match.start() + lead
        found.append(Sentence(text, chunk.pk, chunk.document_id, start, start + len(text), chunk.ordinal))
    return found


def _sentence_at(sentences: list[Sentence], chunk_id: int, offset: int) -> Sentence | None:
    for s in sentences:
        if s.chunk_id == chunk_id and s.start <= offset < s.end:
            return s
    return None


def _current_chunks(domain_id: int):

    return (
        Chunk.objects.filter(domain_id=domain_id, document__status=DocumentStatus.READY,
                             version_id=F("document__current_version_id"))
        .order_by("document_id", "ordinal")
        .only("pk", "text", "document_id", "ordinal")[:MAX_CHUNKS]
    )


def rank_entities(domain_id: int, chunk_ids: set[int]) -> list[dict]:
    """Entities by mention count + degree centrality (both normalised to [0, 1])."""

    mentions = Counter(
        Mention.objects.filter(domain_id=domain_id, chunk_id__in=chunk_ids, entity__merged_into__isnull=True)
        .values_list("entity_id", flat=True)
    )
    if not mentions:
        return []
    degree: Counter = Counter()
    for source, target in Relation.objects.filter(domain_id=domain_id).values_list("source_id", "target_id"):
        degree[source] += 1
        degree[target] += 1
    n = max(len(mentions) - 1, 1)
    top_mentions = max(mentions.values())
    entities = Entity.objects.in_bulk(list(mentions))
    ranked = []
    for entity_id, count in mentions.items():
        entity = entities.get(entity_id)
        if entity is None:
            continue
        centrality = degree[entity_id] / n
        ranked.append({
            "entity": entity, "mentions": count, "centrality": round(centrality, 4),
            "score": count / top_mentions + centrality,
        })
    ranked.sort(key=lambda r: (-r["score"], r["entity"].name))
    return ranked[:KEY_ENTITIES]


def _entity_citations(entity, sentences: list[Sentence], chunk_ids: set[int], first: Sentence | None) -> list[dict]:
    """The key entity's sources: the sentence that describes it, then the sentences of its
    mentions in other chunks, at most ENTITY_CITATIONS chunks."""
    cited = [first] if first else []
    for mention in Mention.objects.filter(entity=entity, chunk_id__in=chunk_ids).order_by("chunk_id", "start")[:200]:
        if len(cited) >= ENTITY_CITATIONS:
            break
        if any(c.chunk_id == mention.chunk_id for c in cited):
            continue
        sentence = _sentence_at(sentences, mention.chunk_id, mention.start)
        if sentence is not None:
            cited.append(sentence)
    return [c.citation() for c in cited]


def _entity_sentence(entity, sentences: list[Sentence], chunk_ids: set[int]) -> Sentence | None:

    for mention in Mention.objects.filter(entity=entity, chunk_id__in=chunk_ids).order_by("chunk_id", "start")[:20]:
        sentence = _sentence_at(sentences, mention.chunk_id, mention.start)
        if sentence is not None:
            return sentence
    name = entity.name.casefold()
    return next((s for s in sentences if name in s.text.casefold()), None)


def _overview(sentences: list[Sentence], top: list[dict], keywords: list[str]) -> list[Sentence]:
    names = [r["entity"].name.casefold() for r in top]
    words = [k.casefold() for k in keywords]
    first_of_document: set[int] = set()
    seen_docs: set[int] = set()
    for s in sentences:
        if s.document_id not in seen_docs:
            seen_docs.add(s.document_id)
            first_of_document.add(id(s))

    def score(s: Sentence) -> float:
        low = s.text.casefold()
        return (sum(name in low for name in names) + sum(w in low for w in words)
                + (0.5 if id(s) in first_of_document else 0.0) - (0.5 if len(s.text) > 400 else 0.0))

    chosen, per_document = [], Counter()
    for s in sorted(sentences, key=lambda s: (-score(s), s.document_id, s.ordinal, s.start)):
        if per_document[s.document_id] >= 2 or any(s.text == c.text for c in chosen):
            continue
        chosen.append(s)
        per_document[s.document_id] += 1
        if len(chosen) >= OVERVIEW_SENTENCES:
            break
    return sorted(chosen, key=lambda s: (s.document_id, s.ordinal, s.start))


def _faq(domain_id: int, top: list[dict], descriptions: dict[int, Sentence], sentences: list[Sentence],
         keywords: list[str]) -> list[tuple[str, Sentence]]:

    entries: list[tuple[str, Sentence]] = []
    ids = [r["entity"].pk for r in top]
    relations = (
        Relation.objects.filter(domain_id=domain_id).filter(Q(source_id__in=ids) & Q(target_id__in=ids))
        .select_related("source", "target").order_by("-weight", "pk")[:FAQ_ENTRIES]
    )
    for relation in relations:
        evidence = RelationEvidence.objects.filter(relation=relation).order_by("pk").first()
        answer = None
        if evidence is not None and evidence.end > evidence.start:  # the extractor kept the sentence's offsets
            answer = _sentence_at(sentences, evidence.chunk_id, evidence.start)
        if answer is None and evidence is not None:
            answer = next((s for s in sentences if s.chunk_id == evidence.chunk_id
                           and relation.source.name.casefold() in s.text.casefold()), None)
        if answer is None:
            answer = next((s for s in sentences if relation.source.name.casefold() in s.text.casefold()
                           and relation.target.name.casefold() in s.text.casefold()), None)
        if answer is not None:
            question = QUESTIONS.get(relation.type, "How is {source} related to {target}?")
            entries.append((question.format(source=relation.source.name, target=relation.target.name), answer))
    for ranked in top:
        if len(entries) >= FAQ_ENTRIES:
            break
        sentence = descriptions.get(ranked["entity"].pk)
        if sentence is not None:
            entries.append((f"What is {ranked['entity'].name}?", sentence))
    for word in keywords:
        if len(entries) >= FAQ_ENTRIES:
            break
        sentence = next((s for s in sentences if word.casefold() in s.text.casefold()), None)
        if sentence is not None:
            entries.append((f"What does this knowledge base say about {word}?", sentence))
    return entries[:FAQ_ENTRIES]


def _slot(content: GeneratedContent) -> tuple:
    """Where a statement sits: entities and questions by their title, overview paragraphs by position."""
    return (content.section, content.title) if content.title else (content.section, content.ordinal)


def target_round(bootstrap: DomainBootstrap) -> int:
    return 1 + ReviewDecision.objects.filter(bootstrap=bootstrap, decision=ReviewDecision.Decision.REQUEST_CHANGES).count()


def generate(bootstrap: DomainBootstrap) -> dict:
    domain_id = bootstrap.domain_id
    chunks = list(_current_chunks(domain_id))
    chunk_ids = {c.pk for c in chunks}
    sentences = [s for c in chunks for s in sentences_of(c)]
    keywords = bootstrap.topic_keywords or []
    top = rank_entities(domain_id, chunk_ids)
    descriptions = {r["entity"].pk: s for r in top if (s := _entity_sentence(r["entity"], sentences, chunk_ids))}
    round_ = target_round(bootstrap)
    feedback = (
        ReviewDecision.objects.filter(bootstrap=bootstrap, decision=ReviewDecision.Decision.REQUEST_CHANGES)
        .order_by("-created_at").values_list("comment", flat=True).first() or ""
    )

    rows: list[GeneratedContent] = []
    generator = "extractive"
    overview = _overview(sentences, top, keywords)
    overview_rows = [(s.text, [s.citation()]) for s in overview]
    if settings.LLM_BASE_URL and sentences:
        passages = _overview(sentences, top, keywords) + [s for s in sentences if s not in overview][:8]
        written = llm.write_statements(
            task=f"Write an overview of the knowledge domain {bootstrap.domain.name!r} in short statements.",
            passages=[p.text for p in passages], feedback=feedback,
        )
        if written:
            generator = "llm"
            overview_rows = [(w["text"], [passages[i - 1].citation() for i in w["sources"]]) for w in written]
    for ordinal, (text, citations) in enumerate(overview_rows):
        rows.append(GeneratedContent(section=GeneratedContent.Section.OVERVIEW, ordinal=ordinal, body=text,
                                     citations=citations, generator=generator))
    for ordinal, ranked in enumerate(top):
        entity, sentence = ranked["entity"], descriptions.get(ranked["entity"].pk)
        body = sentence.text if sentence else entity.description or f"{entity.name} ({entity.get_type_display()})."
        rows.append(GeneratedContent(
            section=GeneratedContent.Section.ENTITY, ordinal=ordinal, title=entity.name, body=body, entity=entity,
            citations=_entity_citations(entity, sentences, chunk_ids, sentence), generator="extractive",
        ))
    for ordinal, (question, sentence) in enumerate(_faq(domain_id, top, descriptions, sentences, keywords)):
        rows.append(GeneratedContent(section=GeneratedContent.Section.FAQ, ordinal=ordinal, title=question,
                                     body=sentence.text, citations=[sentence.citation()], generator="extractive"))

    with transaction.atomic():
        previous = GeneratedContent.objects.filter(bootstrap=bootstrap, round=round_ - 1)
        edited = {_slot(c): c for c in previous.filter(edited_by__isnull=False)}
        for row in rows:
            kept = edited.pop(_slot(row), None)
            if kept is not None:  # the editor's wording wins over a fresh extraction
                row.title, row.body, row.edited_by, row.edited_at = kept.title, kept.body, kept.edited_by, kept.edited_at
        GeneratedContent.objects.filter(bootstrap=bootstrap, round=round_).delete()
        previous.update(status=GeneratedContent.Status.SUPERSEDED)
        for row in rows:
            row.bootstrap, row.domain_id, row.round, row.status = bootstrap, domain_id, round_, GeneratedContent.Status.IN_REVIEW
            row.save()
        DomainBootstrap.objects.filter(pk=bootstrap.pk).update(generation_round=round_)
    counts = defaultdict(int)
    for row in rows:
        counts[row.section] += 1
    return {"round": round_, "generator": generator, "chunks": len(chunks), "sentences": len(sentences),
            "statements": dict(counts), "key_entities": [r["entity"].name for r in top]}
