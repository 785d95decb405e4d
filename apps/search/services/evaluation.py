"""Retrieval evaluation on a BEIR-layout dataset, through the same search code the API runs.

Documents are ranked as users see them: the ``documents`` list of ``search_run``'s
response with ``group="documents"`` and k = 100 (the 100 best documents, each scored by
its best chunk; graph-expanded documents merged in when expansion is on). Asking for
100 *chunks* instead would rank fewer than 100 documents whenever a document has several
chunks among them, and Recall@100 would be computed on a shorter list. Metrics, per query then averaged over the queries that
have at least one relevant document (as BEIR does):

- nDCG@10 = DCG@10 / IDCG@10, DCG@10 = Σ_{i=1..10} (2^rel_i − 1) / log2(i + 1)
- Recall@100 = |relevant ∩ top 100| / |relevant|   (relevant: grade > 0)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from apps.search.services.search import search_run

MODES: dict[str, dict] = {
    "keyword": {"mode": "keyword", "expand": False},
    "vector": {"mode": "vector", "expand": False},
    "hybrid": {"mode": "hybrid", "expand": False},
    "hybrid+expand": {"mode": "hybrid", "expand": True},
}


@dataclass
class Dataset:
    corpus: dict[str, dict]  # id -> {"title", "text"}
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade}


def dataset_load(path: Path | str) -> Dataset:
    path = Path(path)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} is missing (expected the BEIR layout: corpus.jsonl, queries.jsonl, qrels.tsv)")
    corpus = {}
    with open(path / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                corpus[str(row["_id"])] = {"title": row.get("title") or "", "text": row.get("text") or ""}
    queries = {}
    with open(path / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                queries[str(row["_id"])] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(path / "qrels.tsv", encoding="utf-8") as f:
        for number, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            try:
                grade = int(float(parts[-1]))
            except ValueError:
                if number == 0:
                    continue  # header
                raise
            qrels.setdefault(str(parts[0]), {})[str(parts[1])] = grade
    return Dataset(corpus=corpus, queries=queries, qrels=qrels)


def ndcg_at_k(ranked: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** grades.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], grades: dict[str, int], k: int = 100) -> float:
    relevant = {doc for doc, g in grades.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def evaluate_rankings(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    judged = [q for q in rankings if any(g > 0 for g in qrels.get(q, {}).values())]
    if not judged:
        return {"ndcg@10": 0.0, "recall@100": 0.0}
    return {
        "ndcg@10": sum(ndcg_at_k(rankings[q], qrels[q]) for q in judged) / len(judged),
        "recall@100": sum(recall_at_k(rankings[q], qrels[q]) for q in judged) / len(judged),
    }


def rank_documents(
    *, user, domain_slug: str, queries: dict[str, str], doc_ids: dict[int, list[str]], mode: str, expand: bool,
    search: Callable | None = None, group: str = "documents", progress: Callable[[int], object] | None = None,
) -> tuple[dict[str, list[str]], list[float]]:
    """Each query through ``search_run`` (the 100 best documents) → corpus ids in the response's document order; latencies in ms.

    ``progress(1)`` is called after each query."""
    search = search or search_run
    rankings, latencies = {}, []
    for query_id, text in queries.items():
        started = time.perf_counter()
        body = search(user=user, query=text[:2000], domains=[domain_slug], mode=mode, k=100, group=group, expand=expand)
        latencies.append((time.perf_counter() - started) * 1000)
        if progress is not None:
            progress(1)
        ranked: list[str] = []
        for document in body.documents:
            ranked.extend(doc_ids.get(document.id, []))
        rankings[query_id] = ranked
    return rankings, latencies


def evaluation_queries(dataset: Dataset, *, limit_queries: int | None = None) -> dict[str, str]:
    """The judged queries (id → text), the first ``limit_queries`` of them when given."""
    queries = {q: t for q, t in dataset.queries.items() if q in dataset.qrels}
    if limit_queries:
        queries = dict(list(queries.items())[:limit_queries])
    return queries


def evaluate_domain(
    *, user, domain_slug: str, dataset: Dataset, doc_ids: dict[int, list[str]], modes: Iterable[str] = MODES,
    limit_queries: int | None = None, search: Callable | None = None, group: str = "documents",
    progress: Callable[[int], object] | None = None,
) -> dict[str, dict[str, float]]:
    """nDCG@10 and recall@100 of each mode; ``progress(1)`` after each query of each mode."""
    queries = evaluation_queries(dataset, limit_queries=limit_queries)
    report = {}
    for name in modes:
        rankings, latencies = rank_documents(
            user=user, domain_slug=domain_slug, queries=queries, doc_ids=doc_ids, search=search, group=group,
            progress=progress, **MODES[name],
        )
        scores = evaluate_rankings(rankings, dataset.qrels)
        latencies.sort()
        scores["_p50_ms"] = latencies[len(latencies) // 2] if latencies else 0.0
        scores["_queries"] = len(queries)
        report[name] = scores
    return report
