"""The optional language model of the bootstrap: an OpenAI-compatible chat endpoint.

Used only when ``HEYSH_LLM_BASE_URL`` is set. The model never invents citations: it is
given numbered source passages and must answer with the numbers it used; statements
citing no valid passage are dropped.
"""

from __future__ import annotations

import json
import re

import httpx
from django.conf import settings

from apps.documents.errors import PermanentError

TIMEOUT_SECONDS = 60


def chat(messages: list[dict], *, max_tokens: int = 800) -> str:
    headers = {"Authorization": f"Bearer {settings.LLM_API_KEY}"} if settings.LLM_API_KEY else {}
    url = settings.LLM_BASE_URL.rstrip("/") + "/chat/completions"
    response = httpx.post(
        url, headers=headers, timeout=TIMEOUT_SECONDS,
        json={"model": settings.LLM_MODEL, "messages": messages, "temperature": 0.2, "max_tokens": max_tokens},
    )
    if response.status_code in (400, 401, 403, 404):
        # Misconfiguration, not a passing outage: fail the step with a clear reason.
        raise PermanentError(f"The language model endpoint refused the request (HTTP {response.status_code}).", code="llm")
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


def _json_block(text: str):
    match = re.search(r"(\[.*\]|\{.*\})", text, re.S)
    if not match:
        raise ValueError("the language model answered without JSON")
    return json.loads(match.group(1))


def suggest_subtopics(*, name: str, description: str, keywords: list[str], limit: int = 5) -> list[str]:
    answer = chat([
        {"role": "system", "content": "You plan knowledge bases. Answer with a JSON array of short strings only."},
        {"role": "user", "content": (
            f"Knowledge domain: {name}\nDescription: {description}\nKeywords: {', '.join(keywords)}\n"
            f"Suggest up to {limit} sub-topics worth researching."
        )},
    ], max_tokens=200)
    topics = _json_block(answer)
    return [" ".join(str(t).split())[:120] for t in topics if str(t).strip()][:limit]


def write_statements(*, task: str, passages: list[str], feedback: str = "", limit: int = 5) -> list[dict]:
    """Statements written from numbered passages: ``[{"text", "sources": [passage numbers]}]``."""
    numbered = "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))
    prompt = (
        f"{task}\nUse only these passages and cite them by number.\n{numbered}\n"
        + (f"Reviewer feedback to address: {feedback}\n" if feedback else "")
        + f'Answer with a JSON array of at most {limit} objects: {{"text": "...", "sources": [1, 2]}}.'
    )
    answer = chat([{"role": "system", "content": "You write concise, factual knowledge-base content."},
                   {"role": "user", "content": prompt}])
    statements = []
    for item in _json_block(answer):
        sources = [int(s) for s in item.get("sources", []) if str(s).isdigit() and 1 <= int(s) <= len(passages)]
        text = " ".join(str(item.get("text", "")).split())
        if text and sources:
            statements.append({"text": text, "sources": sources})
    return statements[:limit]
