from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictSlugField
from apps.search.models import Entity, EntityType, Mention
from apps.search.services.graph import MAX_HOPS
from apps.search.services.search import GROUPS, MAX_K, MAX_QUERY_CHARS, MODES


# The ranges search_validate checks (codes query_empty, query_too_long, invalid_k, invalid_hops),
# stated in the schema; the fields only check types so that the service's codes stay.
@extend_schema_field({"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": r"\S"})
class QueryField(StrictCharField):
    """Query text; 1..2000 characters after trimming, not only whitespace. Not ``allow_blank``
    (drf-spectacular would then allow "" in the schema), yet "" goes on to the service, whose
    ``query_empty`` says what is wrong."""

    def run_validation(self, data=serializers.empty):
        if data == "":
            return data
        return super().run_validation(data)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10})
class KField(StrictIntegerField):
    """Chunks (or with group=documents, documents) to return."""


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_HOPS, "default": 1})
class HopsField(StrictIntegerField):
    """Graph hops with expand."""


class SearchFiltersSerializer(serializers.Serializer):
    document_ids = serializers.ListField(child=StrictIntegerField(min_value=1), required=False, default=list, max_length=1000)
    entity_type = serializers.ChoiceField(choices=EntityType.choices, required=False, allow_blank=True, default="")
    language = serializers.ListField(child=StrictCharField(max_length=12), required=False, default=list, max_length=50)
    created_after = serializers.DateTimeField(required=False, allow_null=True, default=None)
    created_before = serializers.DateTimeField(required=False, allow_null=True, default=None)


class SearchRequestSerializer(serializers.Serializer):
    """Types only; the service checks ranges and says what is wrong (one place for the rules)."""

    query = QueryField(trim_whitespace=False, help_text="1..2000 characters after trimming.")
    domains = serializers.ListField(child=StrictSlugField(max_length=80), required=False, default=list, max_length=100)
    mode = serializers.ChoiceField(choices=MODES, required=False, default="hybrid")
    k = KField(required=False, default=10, help_text="1..100 chunks, or documents with group=documents.")
    group = serializers.ChoiceField(
        choices=GROUPS, required=False, default="chunks",
        help_text="chunks: the k best chunks (several may share a document); documents: the k best documents, "
        "each by its best chunk (one result per document).",
    )
    filters = SearchFiltersSerializer(required=False)
    expand = StrictBooleanField(required=False, default=False)
    hops = HopsField(required=False, default=1, help_text=f"1..{MAX_HOPS}, with expand.")


class EntitySerializer(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Entity
        fields = ["id", "key", "name", "type", "domain", "description", "aliases", "mention_count"]


class MentionCitationSerializer(serializers.ModelSerializer):
    document = serializers.SerializerMethodField()
    chunk = serializers.SerializerMethodField()
    document_offset = serializers.SerializerMethodField()

    class Meta:
        model = Mention
        fields = ["id", "surface", "start", "end", "document_offset", "chunk", "document"]

    def get_document(self, obj):
        return {"id": obj.chunk.document_id, "title": obj.chunk.document.title, "version": obj.version.number}

    def get_chunk(self, obj):
        text = obj.chunk.text
        lo, hi = max(0, obj.start - 120), min(len(text), obj.end + 120)
        return {
            "id": obj.chunk_id, "ordinal": obj.chunk.ordinal, "page": obj.chunk.page,
            "start": obj.chunk.start, "end": obj.chunk.end, "snippet": text[lo:hi], "snippet_offset": lo,
        }

    def get_document_offset(self, obj):
        """Where the mention starts in the version's text."""
        return obj.chunk.start + obj.start


# --- The search response (apps.search.services.results), as the API sends it ----------
class DocumentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class VersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    language = serializers.CharField()


class ChunkHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    text = serializers.CharField()
    highlighted = serializers.CharField(help_text="The text, HTML-escaped, with <mark> around the query's terms.")
    highlights = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), help_text="[start, end] offsets.")
    document = DocumentRefSerializer()
    version = VersionRefSerializer()
    domain = serializers.CharField()
    ordinal = serializers.IntegerField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    page = serializers.IntegerField(allow_null=True)
    scores = serializers.DictField(help_text='{"fused": score, channel: {"rank", "score"}}')
    score = serializers.FloatField()


class DocumentHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    domain = serializers.CharField()
    score = serializers.FloatField()
    chunk_ids = serializers.ListField(child=serializers.IntegerField())
    via = serializers.ListField(child=serializers.CharField())
    graph_mentions = serializers.IntegerField(required=False, help_text="Only for documents the graph connects.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("graph_mentions") is None:
            data.pop("graph_mentions", None)
        return data


class EntityHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    domain = serializers.CharField()
    mention_count = serializers.IntegerField()
    via = serializers.CharField()
    hits = serializers.IntegerField()


class RelationHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.IntegerField()
    target = serializers.IntegerField()
    source_name = serializers.CharField()
    target_name = serializers.CharField()
    type = serializers.CharField()
    weight = serializers.FloatField()
    domain = serializers.CharField()


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.CharField()
    k = serializers.IntegerField()
    group = serializers.ChoiceField(choices=GROUPS)
    expand = serializers.BooleanField()
    hops = serializers.IntegerField()
    domains = serializers.ListField(child=serializers.CharField())
    results = ChunkHitSerializer(many=True)
    documents = DocumentHitSerializer(many=True)
    entities = EntityHitSerializer(many=True)
    relations = RelationHitSerializer(many=True)
    timings_ms = serializers.DictField(child=serializers.FloatField())
    degraded = serializers.ListField(child=serializers.CharField())
    degraded_detail = serializers.DictField(child=serializers.CharField())


# --- Entity detail and graph exploration (apps.search.services.graph builds the dicts) ---
class MentionDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    version = serializers.IntegerField()


class MentionChunkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ordinal = serializers.IntegerField()
    page = serializers.IntegerField(allow_null=True)
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    snippet = serializers.CharField(allow_blank=True, help_text="The chunk's text around the mention.")
    snippet_offset = serializers.IntegerField(help_text="Where the snippet starts in the chunk.")


class MentionCitationResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    surface = serializers.CharField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    document_offset = serializers.IntegerField()
    chunk = MentionChunkSerializer()
    document = MentionDocumentSerializer()


class EntityDetailSerializer(EntitySerializer):
    mentions = MentionCitationResponseSerializer(many=True)

    class Meta(EntitySerializer.Meta):
        fields = [*EntitySerializer.Meta.fields, "mentions"]


class GraphNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()


class GraphEdgeSerializer(serializers.Serializer):
    source = serializers.IntegerField()
    target = serializers.IntegerField()
    type = serializers.CharField()
    weight = serializers.FloatField()


class NeighboursSerializer(serializers.Serializer):
    entity = serializers.IntegerField()
    hops = serializers.IntegerField(min_value=1, max_value=3)
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)


class PathSerializer(serializers.Serializer):
    source = serializers.IntegerField()
    target = serializers.IntegerField()
    found = serializers.BooleanField()
    length = serializers.IntegerField(allow_null=True, help_text="Edges on the path; null when none was found.")
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)


class EntityDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    mentions = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class EntityDocumentsSerializer(serializers.Serializer):
    entity = serializers.IntegerField()
    documents = EntityDocumentSerializer(many=True)
