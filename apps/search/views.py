"""Search and graph API: thin views over apps.search.services / selectors."""

from __future__ import annotations

import re

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ServiceError
from apps.core.parsers import BoundedJSONParser
from apps.search import selectors
from apps.search.models import Entity, EntityType, RelationType
from apps.search.serializers import (
    EntityDetailSerializer,
    EntityDocumentsSerializer,
    EntitySerializer,
    MentionCitationSerializer,
    NeighboursSerializer,
    PathSerializer,
    SearchRequestSerializer,
    SearchResponseSerializer,
)
from apps.search.services import (
    GROUPS,
    SearchFilters,
    entity_documents,
    entity_neighbours,
    entity_shortest_path,
    search_run,
)
from apps.search.services.graph import MAX_HOPS, MAX_PATH_HOPS

FILTER_PARAMS = ("document_ids", "entity_type", "language", "created_after", "created_before")


SLUG_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[-a-zA-Z0-9_]+$"}
# Trimmed, not empty, no comma (the list separator).
LANGUAGE_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 12, "pattern": r"^[^,\u0000]*[^,\s\u0000][^,\u0000]*$"}
DOMAIN_NOT_READABLE = OpenApiResponse(description="A domain named in the filter does not exist or the caller cannot "
                                      "read it (`not_found`).")


def _int_schema(low: int, high: int, default: int) -> dict:
    return {"type": "integer", "minimum": low, "maximum": high, "default": default}


NODE = {"id": 7, "key": "boundary layer", "name": "Boundary layer", "type": "concept"}
EDGE = {"source": 7, "target": 9, "type": "related_to", "weight": 2.0}
SEARCH_EXAMPLE = OpenApiExample("Results", response_only=True, value={
    "query": "boundary layer", "mode": "hybrid", "k": 10, "group": "chunks", "expand": False, "hops": 1, "domains": ["physics"],
    "results": [{"chunk_id": 880, "text": "Boundary layers form…", "highlighted": "<mark>Boundary</mark> layers form…",
                 "highlights": [[0, 8]], "document": {"id": 17, "title": "Boundary layers"},
                 "version": {"id": 40, "number": 1, "language": "en"}, "domain": "physics", "ordinal": 0, "start": 0,
                 "end": 998, "page": 1, "scores": {"fused": 0.032}, "score": 0.032}],
    "documents": [], "entities": [], "relations": [], "timings_ms": {"total": 41.2}, "degraded": [],
    "degraded_detail": {},
})


_INTEGER = re.compile(r"-?[0-9]+")
_BOOLEANS = {"true": True, "false": False}


def _integer(raw: str):
    """A query string's integer as the int the body would carry; anything else as sent (refused)."""
    return int(raw) if _INTEGER.fullmatch(raw) else raw


def _list(values: list[str]) -> list[str]:
    """A query list, comma-separated (OpenAPI's ``explode: false``) or repeated: ``x=`` alone is
    the empty list; an empty item anywhere else is kept, for the field to refuse."""
    if values == [""]:
        return []
    return [part.strip() for value in values for part in value.split(",")]


def _query_params_payload(params) -> dict:
    """The query string as the JSON body it stands for: integers and booleans typed as the
    schema spells them (``true``/``false``), lists repeated or comma-separated."""
    payload: dict = {"query": params.get("q", params.get("query", ""))}
    for name in ("mode", "group"):
        if name in params:
            payload[name] = params[name]
    for name in ("k", "hops"):
        if name in params:
            payload[name] = _integer(params[name])
    if "expand" in params:
        payload["expand"] = _BOOLEANS.get(params["expand"], params["expand"])
    if "domains" in params or "domain" in params:
        payload["domains"] = _list(params.getlist("domains") + params.getlist("domain"))
    filters = {}
    for name in FILTER_PARAMS:
        if name == "document_ids" and name in params:
            filters[name] = [_integer(part) for part in _list(params.getlist(name))]
        elif name == "language" and name in params:
            filters[name] = _list(params.getlist(name))
        elif name in params:
            filters[name] = params[name]
    if filters:
        payload["filters"] = filters
    return payload


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServiceError(f"{name} must be an integer (got {raw!r}).", code=f"invalid_{name}")
    if not low <= value <= high:
        raise ServiceError(f"{name} must be between {low} and {high} (got {value}).", code=f"invalid_{name}")
    return value


class SearchView(APIView):
    """Hybrid search over the caller's readable domains."""

    # A POST body is JSON: filters are an object, and a form would spell booleans and numbers as text.
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("q", {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}, required=True,
                             description="Query text, 1..2000 characters, not only whitespace."),
            OpenApiParameter("domains", {"type": "array", "maxItems": 100, "items": SLUG_SCHEMA}, explode=False,
                             description="Domain slugs, comma-separated (or repeated; default: all readable); "
                             "one the caller cannot read is a 404."),
            OpenApiParameter("mode", str, enum=["hybrid", "vector", "keyword"]),
            OpenApiParameter("k", _int_schema(1, 100, 10), description="Chunks to return, 1..100 (documents with group=documents)."),
            OpenApiParameter("group", str, enum=list(GROUPS), default="chunks",
                             description="chunks: the k best chunks; documents: the k best documents, each by its best chunk."),
            OpenApiParameter("expand", bool, description="Expand the results through the graph."),
            OpenApiParameter("hops", _int_schema(1, MAX_HOPS, 1), description=f"Graph hops with expand, 1..{MAX_HOPS}."),
            OpenApiParameter("document_ids", {"type": "array", "maxItems": 1000, "items": {"type": "integer", "minimum": 1}},
                             explode=False, description="Only these documents (ids comma-separated, or repeated)."),
            OpenApiParameter("entity_type", str, enum=[*EntityType.values, ""],
                             description="Only chunks mentioning an entity of this type."),
            OpenApiParameter("language", {"type": "array", "maxItems": 50, "items": LANGUAGE_SCHEMA}, explode=False,
                             description="Only versions in these languages (comma-separated, or repeated)."),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Documents created at or after."),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME,
                             description="Documents created at or before (before `created_after`: nothing is found)."),
        ],
        responses={200: SearchResponseSerializer, 404: DOMAIN_NOT_READABLE},
        description="Hybrid search (vectors and keywords fused by rank) over the caller's readable domains, "
        "optionally expanded through the knowledge graph.",
        examples=[SEARCH_EXAMPLE],
    )
    def get(self, request):
        return self._search(request, _query_params_payload(request.query_params))

    @extend_schema(
        request=SearchRequestSerializer, responses={200: SearchResponseSerializer, 404: DOMAIN_NOT_READABLE},
        description="The same search with a JSON body (filters as an object).",
        examples=[OpenApiExample("Query", value={"query": "boundary layer", "domains": ["physics"], "k": 5}, request_only=True),
                  SEARCH_EXAMPLE],
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        if "query" not in data and "q" in data:
            data = {**data, "query": data["q"]}
        return self._search(request, data)

    def _search(self, request, payload):
        serializer = SearchRequestSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        f = data.get("filters") or {}
        filters = SearchFilters(
            document_ids=tuple(f.get("document_ids") or ()),
            entity_type=f.get("entity_type") or "",
            languages=tuple(f.get("language") or ()),
            created_after=f.get("created_after"),
            created_before=f.get("created_before"),
        )
        body = search_run(
            user=request.user, query=data["query"], domains=data["domains"] or None, mode=data["mode"], k=data["k"],
            group=data["group"], filters=filters, expand=data["expand"], hops=data["hops"],
        )
        return Response(SearchResponseSerializer(body).data)


class EntityMixin:
    def get_entity(self, entity_id) -> Entity:
        try:
            return selectors.entity_get(user=self.request.user, entity_id=int(entity_id))
        except (Entity.DoesNotExist, ValueError, TypeError):
            raise Http404("Entity not found.")


@extend_schema(
    parameters=[
        OpenApiParameter("domain", str, description="Domain slug."),
        OpenApiParameter("q", str, description="Name prefix."),
        OpenApiParameter("type", str, enum=EntityType.values),
    ],
    description="Entities of the caller's readable domains, by name prefix and type.",
    responses={200: EntitySerializer(many=True),
               404: OpenApiResponse(description="The `domain` filter names a domain the caller cannot read (`not_found`).")},
    examples=[OpenApiExample("Entities", response_only=True, status_codes=["200"], value={
        "count": 1, "next": None, "previous": None,
        "results": [{**NODE, "domain": "physics", "description": "", "aliases": ["BL"], "mention_count": 12}]})],
)
class EntityListView(generics.ListAPIView):
    serializer_class = EntitySerializer

    def get_queryset(self):
        params = self.request.query_params
        entity_type = params.get("type")
        if entity_type is not None and entity_type not in EntityType.values:
            raise ServiceError(f"Unknown entity type {entity_type!r}; use one of {', '.join(EntityType.values)}.", code="invalid_type")
        domain_slug = params.get("domain") or None
        if domain_slug:
            try:
                selectors.domain_list_readable(user=self.request.user, slugs=[domain_slug])
            except Exception:
                raise Http404("Domain not found.")
        return selectors.entity_list(user=self.request.user, domain_slug=domain_slug, prefix=params.get("q", "").strip(), entity_type=entity_type or "")


class EntityDetailView(EntityMixin, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("mentions", _int_schema(1, 1000, 100), description="Mentions to include, 1..1000.")],
        responses=EntityDetailSerializer, description="One entity with the mentions that support it, each with a snippet.",
        examples=[OpenApiExample("An entity", response_only=True, value={
            **NODE, "domain": "physics", "description": "", "aliases": ["BL"], "mention_count": 12,
            "mentions": [{"id": 3, "surface": "boundary layer", "start": 10, "end": 24, "document_offset": 10,
                          "chunk": {"id": 880, "ordinal": 0, "page": 1, "start": 0, "end": 998,
                                    "snippet": "… the boundary layer …", "snippet_offset": 0},
                          "document": {"id": 17, "title": "Boundary layers", "version": 1}}]})],
    )
    def get(self, request, entity_id: int):
        entity = self.get_entity(entity_id)
        limit = _int_param(request, "mentions", 100, 1, 1000)
        mentions = selectors.entity_mentions(entity=entity, limit=limit)
        return Response({**EntitySerializer(entity).data, "mentions": MentionCitationSerializer(mentions, many=True).data})


class EntityNeighboursView(EntityMixin, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("hops", _int_schema(1, MAX_HOPS, 1), description=f"1..{MAX_HOPS}"),
                    OpenApiParameter("limit", _int_schema(1, 500, 50), description="Nodes, 1..500."),
                    OpenApiParameter("type", str, many=True, enum=RelationType.values,
                                     description="Only these relation types (repeatable or comma-separated).")],
        responses=NeighboursSerializer, description="The entity's neighbourhood in the knowledge graph.",
        examples=[OpenApiExample("Neighbours", response_only=True,
                                 value={"entity": 7, "hops": 1, "nodes": [NODE], "edges": [EDGE]})],
    )
    def get(self, request, entity_id: int):
        entity = self.get_entity(entity_id)
        hops = _int_param(request, "hops", 1, 1, MAX_HOPS)
        limit = _int_param(request, "limit", 50, 1, 500)
        types = tuple(dict.fromkeys(t.strip() for v in request.query_params.getlist("type") for t in v.split(",") if t.strip()))
        unknown = [t for t in types if t not in RelationType.values]
        if unknown:
            raise ServiceError(
                f"Unknown relation type {unknown[0]!r}; use one of {', '.join(RelationType.values)}.", code="invalid_type"
            )
        return Response(entity_neighbours(entity=entity, hops=hops, limit=limit, types=types))


class EntityPathView(EntityMixin, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("max_hops", _int_schema(1, MAX_PATH_HOPS, MAX_PATH_HOPS), description=f"1..{MAX_PATH_HOPS}")],
        responses=PathSerializer,
        description="The shortest path between two entities of one domain; `found: false` when there is none.",
        examples=[OpenApiExample("Path", response_only=True, value={
            "source": 7, "target": 9, "found": True, "length": 1, "nodes": [NODE], "edges": [EDGE]})],
    )
    def get(self, request, entity_id: int, target_id: int):
        source = self.get_entity(entity_id)
        target = self.get_entity(target_id)
        if source.domain_id != target.domain_id:
            raise ServiceError("The two entities belong to different domains; a path stays within one domain.", code="different_domains")
        max_hops = _int_param(request, "max_hops", MAX_PATH_HOPS, 1, MAX_PATH_HOPS)
        return Response({"source": source.pk, "target": target.pk, **entity_shortest_path(source=source, target=target, max_hops=max_hops)})


class EntityDocumentsView(EntityMixin, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", _int_schema(1, 500, 50), description="Documents, 1..500.")],
        responses=EntityDocumentsSerializer, description="The documents that mention the entity, most mentions first.",
        examples=[OpenApiExample("Documents", response_only=True, value={"entity": 7, "documents": [
            {"id": 17, "title": "Boundary layers", "status": "ready", "mentions": 4, "created_at": "2026-01-05T09:30:00Z"}]})],
    )
    def get(self, request, entity_id: int):
        entity = self.get_entity(entity_id)
        limit = _int_param(request, "limit", 50, 1, 500)
        return Response({"entity": entity.pk, "documents": entity_documents(entity=entity, limit=limit)})
