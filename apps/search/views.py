"""Search and graph API: thin views over apps.search.services / selectors."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ServiceError
from apps.search import selectors
from apps.search.models import Entity, EntityType, RelationType
from apps.search.serializers import (
    EntitySerializer,
    MentionCitationSerializer,
    SearchRequestSerializer,
    SearchResponseSerializer,
)
from apps.search.services import SearchFilters, entity_documents, entity_neighbours, entity_shortest_path, search_run
from apps.search.services.graph import MAX_HOPS, MAX_PATH_HOPS

FILTER_PARAMS = ("document_ids", "entity_type", "language", "created_after", "created_before")


def _query_params_payload(params) -> dict:
    payload: dict = {"query": params.get("q", params.get("query", ""))}
    for name in ("mode", "k", "expand", "hops"):
        if name in params:
            payload[name] = params[name]
    if "domains" in params or "domain" in params:
        payload["domains"] = params.getlist("domains") + params.getlist("domain")
    filters = {}
    for name in FILTER_PARAMS:
        if name in params:
            filters[name] = params.getlist(name) if name in ("document_ids", "language") else params[name]
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

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="Query text, 1..2000 characters."),
            OpenApiParameter("domains", str, description="Domain slugs, comma-separated (default: all readable)."),
            OpenApiParameter("mode", str, enum=["hybrid", "vector", "keyword"]),
            OpenApiParameter("k", int, description="1..100"),
            OpenApiParameter("expand", bool),
            OpenApiParameter("hops", int, description="1..3"),
            *[OpenApiParameter(name, str) for name in FILTER_PARAMS],
        ],
        responses=SearchResponseSerializer,
    )
    def get(self, request):
        return self._search(request, _query_params_payload(request.query_params))

    @extend_schema(request=SearchRequestSerializer, responses=SearchResponseSerializer)
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
            filters=filters, expand=data["expand"], hops=data["hops"],
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
    ]
)
class EntityListView(generics.ListAPIView):
    serializer_class = EntitySerializer

    def get_queryset(self):
        params = self.request.query_params
        entity_type = params.get("type", "")
        if entity_type and entity_type not in EntityType.values:
            raise ServiceError(f"Unknown entity type {entity_type!r}; use one of {', '.join(EntityType.values)}.", code="invalid_type")
        domain_slug = params.get("domain") or None
        if domain_slug:
            try:
                selectors.domain_list_readable(user=self.request.user, slugs=[domain_slug])
            except Exception:
                raise Http404("Domain not found.")
        return selectors.entity_list(user=self.request.user, domain_slug=domain_slug, prefix=params.get("q", "").strip(), entity_type=entity_type)


class EntityDetailView(EntityMixin, APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, entity_id: int):
        entity = self.get_entity(entity_id)
        limit = _int_param(request, "mentions", 100, 1, 1000)
        mentions = selectors.entity_mentions(entity=entity, limit=limit)
        return Response({**EntitySerializer(entity).data, "mentions": MentionCitationSerializer(mentions, many=True).data})


class EntityNeighboursView(EntityMixin, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("hops", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("type", str, many=True, enum=RelationType.values, description="Only these relation types (repeatable or comma-separated)."),
        ],
        responses=OpenApiTypes.OBJECT,
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
    @extend_schema(parameters=[OpenApiParameter("max_hops", int)], responses=OpenApiTypes.OBJECT)
    def get(self, request, entity_id: int, target_id: int):
        source = self.get_entity(entity_id)
        target = self.get_entity(target_id)
        if source.domain_id != target.domain_id:
            raise ServiceError("The two entities belong to different domains; a path stays within one domain.", code="different_domains")
        max_hops = _int_param(request, "max_hops", MAX_PATH_HOPS, 1, MAX_PATH_HOPS)
        return Response({"source": source.pk, "target": target.pk, **entity_shortest_path(source=source, target=target, max_hops=max_hops)})


class EntityDocumentsView(EntityMixin, APIView):
    @extend_schema(parameters=[OpenApiParameter("limit", int)], responses=OpenApiTypes.OBJECT)
    def get(self, request, entity_id: int):
        entity = self.get_entity(entity_id)
        limit = _int_param(request, "limit", 50, 1, 500)
        return Response({"entity": entity.pk, "documents": entity_documents(entity=entity, limit=limit)})
