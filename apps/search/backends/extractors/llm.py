"""Entity and relation extraction by an OpenAI-compatible chat model (OpenAI, Ollama, vLLM...).

One request per chunk to ``{base_url}/chat/completions`` with a versioned prompt and
``response_format`` ``json_schema`` (strict: the server constrains the answer to
ANSWER_SCHEMA; ``structured=False`` falls back to ``json_object`` for servers without
structured outputs). The answer is still parsed strictly: it must be a JSON object of
the documented shape; types outside EntityType/RelationType are mapped to
``other``/``related_to``; an entity whose name does not occur in the chunk is dropped
(models invent), and so is a relation whose ends are not entities of the chunk.

Failures: a 429 or 5xx answer, a timeout or a dropped connection is retried in the
request (``max_retries``, exponential ``backoff`` doubling from its base, a server's
``Retry-After`` honoured up to ``MAX_RETRY_AFTER``), then raised, so the step retries
later. A malformed answer fails only its chunk: the Extraction carries the ``error``,
is not cached (tried again next time) and the document's other chunks go on. A 4xx
other than 429 (bad key, unknown model) raises at once: retrying cannot help.
The extraction step caches results by (chunk hash, ``prompt_version``, ``model``),
so a chunk is never paid for twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

import httpx

from apps.search.backends.extractors.base import Extractor
from apps.search.backends.types import ExtractedEntity, ExtractedRelation, Extraction, HealthStatus

PROMPT_VERSION = "llm-extract-v1"
ENTITY_TYPES = ("person", "organization", "location", "technology", "product", "event", "concept", "other")
RELATION_TYPES = ("related_to", "part_of", "uses", "located_in", "works_for", "created_by", "instance_of", "causes")
SYSTEM_PROMPT = (
    "You extract a knowledge graph from a text passage. Answer with one JSON object and nothing else:\n"
    '{"entities": [{"name": "<exact surface form in the text>", "type": "<type>"}],\n'
    ' "relations": [{"source": "<entity name>", "target": "<entity name>", "type": "<relation>"}]}\n'
    f"Entity types: {', '.join(ENTITY_TYPES)}.\n"
    f"Relation types: {', '.join(RELATION_TYPES)}.\n"
    "Only named things and key domain concepts; names exactly as written in the passage; "
    "relations only between entities you listed. No explanations."
)
MAX_ENTITIES = 50
MAX_RETRY_AFTER = 30.0  # seconds: a longer Retry-After is the step's business, not the request's
RETRIED_STATUSES = {429, 500, 502, 503, 504}
ANSWER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["entities", "relations"],
    "properties": {
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "type"],
                "properties": {"name": {"type": "string"}, "type": {"type": "string", "enum": list(ENTITY_TYPES)}},
            },
        },
        "relations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["source", "target", "type"],
                "properties": {
                    "source": {"type": "string"},
                    "target": {"type": "string"},
                    "type": {"type": "string", "enum": list(RELATION_TYPES)},
                },
            },
        },
    },
}
logger = logging.getLogger(__name__)


class ExtractionResponseError(ValueError):
    """The model's answer is not the JSON we asked for (transient: a retry may do better)."""


class OpenAICompatibleExtractor(Extractor):
    name = "llm"
    prompt_version = PROMPT_VERSION

    def __init__(self, alias: str = "default", base_url: str | None = None, api_key: str | None = None,
                 model: str = "gpt-4o-mini", timeout: float = 60.0, max_retries: int = 3, backoff: float = 1.0,
                 structured: bool = True, **options):
        super().__init__(alias, **options)
        self.base_url = (base_url or "").rstrip("/")
        self.model = model
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.structured = structured
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def extract(self, texts: Sequence[str]) -> list[Extraction]:
        if not self.base_url:
            raise RuntimeError("The LLM extractor needs HEYSH_LLM_BASE_URL.")
        return [self._extract_one(text) for text in texts]

    def _response_format(self) -> dict:
        if not self.structured:
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": "knowledge_graph", "strict": True, "schema": ANSWER_SCHEMA}}

    def _post(self, body: dict) -> httpx.Response:
        """POST with retries on 429/5xx, timeouts and dropped connections; the last failure raises."""
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._client.post(f"{self.base_url}/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError):
                if last:
                    raise
                delay = self.backoff * 2**attempt
            else:
                if response.status_code not in RETRIED_STATUSES or last:
                    response.raise_for_status()
                    return response
                delay = self.backoff * 2**attempt
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
            logger.info("LLM extractor: attempt %d failed, retrying in %.2fs", attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _extract_one(self, text: str) -> Extraction:
        response = self._post(
            {
                "model": self.model,
                "temperature": 0,
                "response_format": self._response_format(),
                "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}],
            }
        )
        try:
            content = response.json()["choices"][0]["message"]["content"]
            data = json.loads(content)
            return parse_extraction(data, text)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            error = exc if isinstance(exc, ExtractionResponseError) else ExtractionResponseError(
                f"the model's answer is not a JSON object: {exc}"
            )
            logger.warning("LLM extractor: malformed answer for one chunk: %s", str(error)[:200])
            return Extraction(error=str(error)[:500])

    def health(self) -> HealthStatus:
        return HealthStatus(ok=bool(self.base_url), detail=f"{self.model} at {self.base_url or '(no base URL)'}")

    def close(self) -> None:
        self._client.close()


def parse_extraction(data: object, text: str) -> Extraction:
    if not isinstance(data, dict) or not isinstance(data.get("entities", []), list) or not isinstance(data.get("relations", []), list):
        raise ExtractionResponseError("expected {\"entities\": [...], \"relations\": [...]}")
    lowered = text.casefold()
    entities: dict[str, ExtractedEntity] = {}
    for item in data.get("entities", [])[:MAX_ENTITIES]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ExtractionResponseError(f"entity without a name: {item!r}"[:200])
        name = item["name"].strip()
        start = lowered.find(name.casefold()) if name else -1
        if start < 0 or name.casefold() in entities:
            continue  # not in the passage: invented, or a repeat
        entity_type = item.get("type") if item.get("type") in ENTITY_TYPES else "other"
        entities[name.casefold()] = ExtractedEntity(name=text[start : start + len(name)], type=entity_type, start=start, end=start + len(name))
    relations = []
    for item in data.get("relations", []):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("source", "target")):
            raise ExtractionResponseError(f"relation without source/target: {item!r}"[:200])
        source, target = entities.get(item["source"].strip().casefold()), entities.get(item["target"].strip().casefold())
        if source is None or target is None or source is target:
            continue
        relation_type = item.get("type") if item.get("type") in RELATION_TYPES else "related_to"
        relations.append(ExtractedRelation(source=source.name, target=target.name, type=relation_type))
    return Extraction(entities=tuple(entities.values()), relations=tuple(relations))
