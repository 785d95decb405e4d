"""Entity and relation extraction by an OpenAI-compatible chat model (OpenAI, Ollama, vLLM...).

One request per chunk to ``{base_url}/chat/completions`` with ``response_format``
``json_object`` and a versioned prompt. The answer is parsed strictly: it must be a
JSON object of the documented shape; types outside EntityType/RelationType are
mapped to ``other``/``related_to``; an entity whose name does not occur in the chunk
is dropped (models invent), and so is a relation whose ends are not entities of the
chunk. A malformed answer raises, which the pipeline retries as a transient failure.
The extraction step caches results by (chunk hash, ``prompt_version``, ``model``),
so a chunk is never paid for twice.
"""

from __future__ import annotations

import json
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


class ExtractionResponseError(ValueError):
    """The model's answer is not the JSON we asked for (transient: a retry may do better)."""


class OpenAICompatibleExtractor(Extractor):
    name = "llm"
    prompt_version = PROMPT_VERSION

    def __init__(self, alias: str = "default", base_url: str | None = None, api_key: str | None = None,
                 model: str = "gpt-4o-mini", timeout: float = 60.0, **options):
        super().__init__(alias, **options)
        self.base_url = (base_url or "").rstrip("/")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def extract(self, texts: Sequence[str]) -> list[Extraction]:
        if not self.base_url:
            raise RuntimeError("The LLM extractor needs HEYSH_LLM_BASE_URL.")
        return [self._extract_one(text) for text in texts]

    def _extract_one(self, text: str) -> Extraction:
        response = self._client.post(
            f"{self.base_url}/chat/completions",
            json={
                "model": self.model,
                "temperature": 0,
                "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}],
            },
        )
        response.raise_for_status()
        try:
            content = response.json()["choices"][0]["message"]["content"]
            data = json.loads(content)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ExtractionResponseError(f"the model's answer is not a JSON object: {exc}") from exc
        return parse_extraction(data, text)

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
