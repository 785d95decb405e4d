from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

from apps.core.fields import HttpUrlField, NonBlankCharField, StrictCharField, StrictSlugField


class JsonPartListSerializer(serializers.ListSerializer):
    """In a multipart form the list may come as one part holding a JSON array (OpenAPI's default
    encoding of an array of objects) or as parts holding one JSON object each; else DRF's
    ``name[0]key`` form fields."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and self.field_name in dictionary:
            parts = dictionary.getlist(self.field_name)
            try:
                decoded = [json.loads(part) if isinstance(part, str) else part for part in parts]
            except ValueError:
                return parts  # not JSON: "Expected a dictionary" names the field
            return decoded[0] if len(decoded) == 1 and isinstance(decoded[0], list) else decoded
        return super().get_value(dictionary)


class SeedTextSerializer(serializers.Serializer):
    title = StrictCharField(max_length=300, required=False, allow_blank=True)
    text = NonBlankCharField(max_length=2_000_000)

    class Meta:
        list_serializer_class = JsonPartListSerializer


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class SeedFileField(serializers.FileField):
    """A seed document (PDF, DOCX, HTML, Markdown or plain text; its content decides, else 415);
    not empty. No ``encoding`` names the types: schemathesis cannot generate a list of files
    with one, so the types are in this description."""


class BootstrapCreateSerializer(serializers.Serializer):
    name = NonBlankCharField(max_length=200)
    slug = StrictSlugField(max_length=80, required=False, allow_blank=True,
                                 help_text="Default: derived from the name (random when the name has no letters or digits).")
    description = StrictCharField(required=False, allow_blank=True, max_length=5000, trim_whitespace=False)
    topic_keywords = serializers.ListField(child=NonBlankCharField(max_length=80), required=False, max_length=20)
    seed_urls = serializers.ListField(child=HttpUrlField(max_length=2000), required=False, max_length=50)
    seed_texts = SeedTextSerializer(many=True, required=False, max_length=20)
    seed_text = StrictCharField(required=False, allow_blank=True, max_length=2_000_000,
                                help_text="One pasted text (handy in multipart forms).")


class BootstrapFormSerializer(serializers.Serializer):
    """A multipart start, as the schema states it: the form fields and the seed files. The view
    reads a form with BootstrapUploadSerializer, which also takes the JSON body's lists (repeated
    ``topic_keywords``/``seed_urls`` fields, ``seed_texts`` as one JSON part); the schema leaves
    them out because a form cannot tell a list of strings from anything else written as text."""

    name = NonBlankCharField(max_length=200)
    slug = StrictSlugField(max_length=80, required=False, allow_blank=True)
    description = StrictCharField(required=False, allow_blank=True, max_length=5000, trim_whitespace=False)
    seed_text = StrictCharField(required=False, allow_blank=True, max_length=2_000_000, help_text="One pasted text.")
    seed_files = serializers.ListField(child=SeedFileField(), required=False, max_length=20)


class BootstrapUploadSerializer(BootstrapCreateSerializer):
    seed_files = serializers.ListField(child=SeedFileField(), required=False, max_length=20)


class CommentSerializer(serializers.Serializer):
    comment = StrictCharField(required=False, allow_blank=True, max_length=5000)


class RequestChangesSerializer(serializers.Serializer):
    comment = NonBlankCharField(max_length=5000, help_text="What should change; required.")


class ContentUpdateSerializer(serializers.Serializer):
    title = StrictCharField(required=False, allow_blank=True, max_length=300)
    body = StrictCharField(required=False, max_length=20000)


# --- What the API answers (apps.bootstrap.selectors builds the dicts) ---------------------
class BootstrapRowSerializer(serializers.Serializer):
    domain = serializers.SlugField()
    status = serializers.CharField()
    current_step = serializers.CharField(allow_blank=True)
    round = serializers.IntegerField()


class BootstrapStepSerializer(serializers.Serializer):
    step = serializers.CharField()
    status = serializers.CharField()
    attempt = serializers.IntegerField(min_value=0)
    error = serializers.CharField(allow_blank=True)
    output = serializers.DictField(help_text="What the step produced (counts, chosen sources...).")
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CandidateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    score = serializers.FloatField(allow_null=True)
    chosen = serializers.BooleanField()
    document_id = serializers.IntegerField(allow_null=True)
    source_document_id = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)


class DocumentCountsSerializer(serializers.Serializer):
    expected = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()


class CitationSerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    chunk_id = serializers.IntegerField()
    start = serializers.IntegerField(help_text="Offset within the chunk.")
    end = serializers.IntegerField()
    quote = serializers.CharField(allow_blank=True)


class ContentRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True)
    citations = CitationSerializer(many=True, help_text="The chunks the text rests on.")
    edited = serializers.BooleanField(help_text="Changed by a person since it was generated.")


class EntityContentSerializer(ContentRowSerializer):
    name = serializers.CharField(allow_blank=True)
    entity_id = serializers.IntegerField(allow_null=True)


class FaqContentSerializer(ContentRowSerializer):
    question = serializers.CharField(allow_blank=True)
    answer = serializers.CharField(allow_blank=True)


class ContentSectionsSerializer(serializers.Serializer):
    overview = ContentRowSerializer(many=True)
    key_entities = EntityContentSerializer(many=True)
    faq = FaqContentSerializer(many=True)


class DecisionSerializer(serializers.Serializer):
    decision = serializers.CharField()
    comment = serializers.CharField(allow_blank=True)
    round = serializers.IntegerField()
    decided_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class BootstrapProgressSerializer(serializers.Serializer):
    domain = serializers.SlugField()
    domain_status = serializers.CharField()
    status = serializers.CharField()
    current_step = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    topic_keywords = serializers.ListField(child=serializers.CharField())
    documents = DocumentCountsSerializer()
    round = serializers.IntegerField()
    steps = BootstrapStepSerializer(many=True)
    candidates = CandidateSerializer(many=True)
    content = ContentSectionsSerializer()
    decisions = DecisionSerializer(many=True)
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)


class ContentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    section = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    body = serializers.CharField(allow_blank=True)
    citations = CitationSerializer(many=True)
    status = serializers.CharField()


class OverviewSerializer(ContentSectionsSerializer):
    domain = serializers.SlugField()
    name = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    round = serializers.IntegerField()
