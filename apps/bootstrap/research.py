"""Research: gather the sources a new domain starts from, each with the reason it was chosen.

Candidates are the creator's seeds, documents of OTHER domains the creator may read
that match the topic (through the search service, so scoping is the search's), and,
when an LLM is configured, suggested sub-topics (which widen that search). Candidates
are upserted by a deterministic key, so a re-delivered research step adds nothing twice.
"""

from __future__ import annotations

import logging

from django.conf import settings

from apps.bootstrap import llm
from apps.bootstrap.models import DomainBootstrap, ResearchCandidate
from apps.bootstrap.services import text_key
from apps.documents.models import Document
from apps.domains.access import readable_domains
from apps.search.services.search import search_run

logger = logging.getLogger(__name__)

OTHER_DOMAIN_LIMIT = 5  # documents borrowed from other domains
SEARCH_DEPTH = 20
MIN_SHARE_OF_BEST = 0.5  # a borrowed document must score at least half the best hit


def _upsert(bootstrap: DomainBootstrap, key: str, **fields) -> ResearchCandidate:
    candidate, created = ResearchCandidate.objects.get_or_create(bootstrap=bootstrap, key=key[:300], defaults=fields)
    return candidate


def topic_queries(bootstrap: DomainBootstrap, subtopics: list[str]) -> list[str]:
    keywords = bootstrap.topic_keywords or []
    queries = [" ".join(keywords)] if keywords else []
    if not queries:
        queries.append(f"{bootstrap.domain.name} {bootstrap.domain.description}".strip())
    queries.extend(subtopics)
    return [q for q in queries if q.strip()]


def _other_domain_documents(bootstrap: DomainBootstrap, queries: list[str]) -> list[dict]:
    """Best documents of the creator's other readable domains for the topic queries."""

    user = bootstrap.created_by
    if user is None:
        return []
    others = list(readable_domains(user).exclude(pk=bootstrap.domain_id).values_list("slug", flat=True))
    if not others:
        return []
    best: dict[int, dict] = {}
    for query in queries:
        response = search_run(user=user, query=query[:500], domains=others, mode="hybrid", k=SEARCH_DEPTH)
        for hit in response.results:
            doc_id = hit.document.id
            if doc_id not in best or hit.score > best[doc_id]["score"]:
                best[doc_id] = {
                    "document_id": doc_id, "title": hit.document.title, "domain": hit.domain,
                    "score": hit.score, "query": query, "snippet": hit.text[:240],
                }
    ranked = sorted(best.values(), key=lambda d: -d["score"])
    if not ranked:
        return []
    floor = ranked[0]["score"] * MIN_SHARE_OF_BEST
    return [d for d in ranked if d["score"] >= floor][:OTHER_DOMAIN_LIMIT]


def research_run(bootstrap: DomainBootstrap) -> dict:

    for seed in bootstrap.seed_sources:
        if seed.get("kind") == "url":
            _upsert(bootstrap, f"url:{seed['url']}", kind=ResearchCandidate.Kind.SEED_URL, title=seed["url"][:300],
                    url=seed["url"], reason="Seed URL given by the creator.", score=1.0)
        elif seed.get("kind") == "text":
            _upsert(bootstrap, f"text:{text_key(seed['text'])}", kind=ResearchCandidate.Kind.SEED_TEXT,
                    title=seed["title"], text=seed["text"], reason="Text pasted by the creator.", score=1.0)

    subtopics: list[str] = []
    if settings.LLM_BASE_URL:
        subtopics = llm.suggest_subtopics(
            name=bootstrap.domain.name, description=bootstrap.domain.description, keywords=bootstrap.topic_keywords
        )
        for topic in subtopics:
            _upsert(bootstrap, f"topic:{topic.casefold()}", kind=ResearchCandidate.Kind.SUGGESTED_TOPIC, title=topic,
                    reason="Sub-topic suggested by the language model; used as an extra search query.", chosen=False)

    queries = topic_queries(bootstrap, subtopics)
    borrowed = _other_domain_documents(bootstrap, queries)

    for hit in borrowed:
        document = Document.objects.filter(pk=hit["document_id"]).first()
        if document is None:
            continue
        _upsert(
            bootstrap, f"doc:{document.pk}", kind=ResearchCandidate.Kind.DOMAIN_DOCUMENT, title=document.title[:300],
            source_document=document, score=round(float(hit["score"]), 6),
            reason=(f"Matches the topic query {hit['query']!r} in domain {hit['domain']!r} "
                    f"(search score {hit['score']:.4f}): “{hit['snippet'][:160]}…”"),
        )
    candidates = bootstrap.candidates.all()
    return {
        "candidates": candidates.count(),
        "chosen": candidates.filter(chosen=True).count(),
        "queries": queries,
        "subtopics": subtopics,
        "borrowed_documents": [h["document_id"] for h in borrowed],
    }
