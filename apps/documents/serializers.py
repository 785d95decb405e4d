"""API shapes of documents, versions, chunks and runs (output), and of document intake (input)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.fields import HttpUrlField, NonBlankCharField, StrictCharField, StrictSlugField
from apps.documents.models import Chunk, Document, DocumentVersion, ProcessingRun, StepRun
from apps.documents.selectors import run_progress


class StepRunSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="get_step_display", read_only=True)
    duration_s = serializers.SerializerMethodField()

    class Meta:
        model = StepRun
        fields = ["step", "label", "status", "attempt", "queued_at", "started_at", "finished_at", "duration_s", "error", "metrics"]

    def get_duration_s(self, obj: StepRun) -> float | None:
        if obj.started_at and obj.finished_at and obj.finished_at >= obj.started_at:
            return round((obj.finished_at - obj.started_at).total_seconds(), 3)
        return None


class RunSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)
    progress = serializers.SerializerMethodField(help_text="Percent done (0–100).")
    steps = serializers.SerializerMethodField()

    class Meta:
        model = ProcessingRun
        fields = ["id", "document", "version", "status", "error", "progress", "created_at", "started_at", "finished_at", "steps"]

    def _steps(self, obj) -> list[StepRun]:
        cache = self.context.setdefault("_steps", {})
        if obj.pk not in cache:
            cache[obj.pk] = list(obj.steps.order_by("ordinal"))
        return cache[obj.pk]

    def get_progress(self, obj) -> int:
        return run_progress(run=obj, steps=self._steps(obj))

    def get_steps(self, obj) -> list[dict]:
        return StepRunSerializer(self._steps(obj), many=True).data


class RunBriefSerializer(RunSerializer):
    class Meta(RunSerializer.Meta):
        fields = ["id", "status", "progress", "error"]


class VersionSerializer(serializers.ModelSerializer):
    chunk_count = serializers.SerializerMethodField()

    class Meta:
        model = DocumentVersion
        fields = [
            "id", "number", "filename", "mime", "size", "content_hash", "language", "page_count", "chunk_count",
            "status", "error", "created_at",
        ]

    def get_chunk_count(self, obj) -> int:
        counts = self.context.get("chunk_counts")
        if counts is not None and obj.pk in counts:
            return counts[obj.pk]
        return obj.chunks.count()


class DocumentSerializer(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    current_version = serializers.SerializerMethodField()
    latest_run = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = [
            "id", "domain", "title", "source", "source_url", "status", "error", "created_at", "updated_at",
            "current_version", "latest_run",
        ]

    def get_current_version(self, obj) -> dict | None:
        version = obj.current_version
        return VersionSerializer(version, context=self.context).data if version else None

    def get_latest_run(self, obj) -> dict | None:
        runs = self.context.get("latest_runs")
        run = runs.get(obj.pk) if runs is not None else obj.runs.order_by("-version__number", "-pk").first()
        return RunBriefSerializer(run, context=self.context).data if run else None


class ChunkSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = Chunk
        fields = ["id", "version", "ordinal", "text", "start", "end", "page", "content_hash"]


# The types intake reads (apps.documents.parsers.sniff); the content decides, not the name.
DOCUMENT_FILE_TYPES = (
    "application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "text/html",
    "text/markdown", "text/plain",
)


# The types are in the description, not in the multipart ``encoding``: a part's declared type
# must then agree with its content, and schemathesis fills the other required fields of a body
# with an encoding with empty strings, whatever their schema says.
@extend_schema_field({
    "type": "string", "format": "binary", "minLength": 1,
    "description": "A document: " + ", ".join(DOCUMENT_FILE_TYPES) + ". Its content decides its type (another "
    "type, or content that does not match its name, is a 415).",
})
class DocumentFileField(serializers.FileField):
    """A document file. Empty files pass the field so that intake answers "The document is empty." (400)."""

    def __init__(self, **kwargs):
        super().__init__(allow_empty_file=True, **kwargs)


class PastedTextField(NonBlankCharField):
    """Text with something besides whitespace; intake answers an empty one with 400 ``empty``."""

    refuse_whitespace = False


def _one_of(attrs: dict, names: tuple[str, ...], *, message: str = "Send exactly one of: a file, text, or a URL.") -> dict:
    given = [name for name in names if attrs.get(name) not in (None, "")]
    if len(given) != 1:
        raise serializers.ValidationError(message)
    return attrs


class DocumentCreateSerializer(serializers.Serializer):
    """JSON intake: exactly one of ``text`` or ``url``."""

    exactly_one_of = ("text", "url")  # the schema says it too (apps.core.openapi)

    domain = StrictSlugField(help_text="Slug of the domain the document goes into.")
    title = StrictCharField(required=False, allow_blank=True, max_length=300)
    text = PastedTextField(required=False, help_text="Pasted text.")
    url = HttpUrlField(required=False, max_length=2000, help_text="An http(s) URL to fetch.")

    def validate(self, attrs):
        return _one_of(attrs, self.exactly_one_of)


class DocumentFileFormSerializer(serializers.Serializer):
    """A multipart upload, as the schema states it: the file, its domain and an optional title.
    The view reads forms with DocumentUploadSerializer, which also takes ``text`` or ``url``
    instead of the file (for HTML forms); the schema states those in the JSON body, where
    "exactly one of" can be checked by a client: a form spells a missing field as an empty one."""

    domain = StrictSlugField()
    file = DocumentFileField()
    title = StrictCharField(required=False, allow_blank=True, max_length=300)


class NewVersionFileFormSerializer(serializers.Serializer):
    """A multipart new version, as the schema states it: the file (forms may send ``text`` instead)."""

    file = DocumentFileField()


class DocumentUploadSerializer(serializers.Serializer):
    """Multipart intake: a file (``text`` and ``url`` are accepted too, for form posts); exactly one of them."""

    exactly_one_of = ("file", "text", "url")

    domain = StrictSlugField()
    file = DocumentFileField(required=False)
    title = StrictCharField(required=False, allow_blank=True, max_length=300)
    text = PastedTextField(required=False)
    url = HttpUrlField(required=False, max_length=2000)

    def validate(self, attrs):
        return _one_of(attrs, self.exactly_one_of)


class NewVersionUploadSerializer(serializers.Serializer):
    """Multipart: a file or a text, exactly one."""

    exactly_one_of = ("file", "text")

    file = DocumentFileField(required=False)
    text = PastedTextField(required=False)

    def validate(self, attrs):
        return _one_of(attrs, self.exactly_one_of, message="Send exactly one of: a file or text.")


class NewVersionSerializer(serializers.Serializer):
    """JSON: a text, or an empty body for a URL document (fetched again)."""

    text = PastedTextField(required=False)


class DocumentAcceptedSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    document = DocumentSerializer()
    run = RunBriefSerializer(allow_null=True)
