"""Documents API: thin views over services.py and selectors.py."""

from __future__ import annotations

import json
import math
import time

from django.http import FileResponse, Http404, HttpResponseRedirect, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.core import context
from apps.core.exceptions import NotFound
from apps.core.pagination import BoundedLimitOffsetPagination
from apps.core.parsers import BoundedJSONParser, BoundedMultiPartParser
from apps.documents import downloads, selectors, services
from apps.documents.event_tickets import TICKET_MAX_AGE_SECONDS, RunEventsTicketAuthentication, run_events_ticket_issue
from apps.documents.models import Document, DocumentStatus, ProcessingRun, documents_storage
from apps.documents.serializers import (
    ChunkSerializer,
    DocumentAcceptedSerializer,
    DocumentCreateSerializer,
    DocumentFileFormSerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    NewVersionFileFormSerializer,
    NewVersionSerializer,
    NewVersionUploadSerializer,
    RunBriefSerializer,
    RunSerializer,
)

LONG_POLL_MAX_SECONDS = 60
EVENTS_MAX_SECONDS = 300
POLL_INTERVAL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15

ERROR_RESPONSES = {
    400: OpenApiResponse(description="Invalid input (empty document, bad URL...)"),
    403: OpenApiResponse(description="Read-only role in this domain"),
    404: OpenApiResponse(description="Not found (or in a domain you cannot read)"),
    413: OpenApiResponse(description="Larger than HEYSH_MAX_UPLOAD_MB"),
    415: OpenApiResponse(description="Unsupported type, or content that does not match its name"),
}
POSITIVE_INT = {"type": "integer", "minimum": 1}
NON_NEGATIVE_SECONDS = {"type": "number", "minimum": 0}
VERSION_PARAMETER = OpenApiParameter(
    "version", POSITIVE_INT, description="Version number, from 1 (default: the current version)."
)

RUN_BRIEF_EXAMPLE = {"id": 31, "status": "processing", "progress": 40, "error": ""}
VERSION_EXAMPLE = {
    "id": 40, "number": 1, "filename": "paper.pdf", "mime": "application/pdf", "size": 482113,
    "content_hash": "9f2c…", "language": "en", "page_count": 12, "chunk_count": 57, "status": "ready", "error": "",
    "created_at": "2026-01-05T09:30:00Z",
}
DOCUMENT_EXAMPLE = {
    "id": 17, "domain": "physics", "title": "Boundary layers", "source": "upload", "source_url": "", "status": "ready",
    "error": "", "created_at": "2026-01-05T09:30:00Z", "updated_at": "2026-01-05T09:31:10Z",
    "current_version": VERSION_EXAMPLE, "latest_run": {**RUN_BRIEF_EXAMPLE, "status": "succeeded", "progress": 100},
}
RUN_EXAMPLE = {
    "id": 31, "document": 17, "version": 1, "status": "processing", "error": "", "progress": 40,
    "created_at": "2026-01-05T09:30:00Z", "started_at": "2026-01-05T09:30:01Z", "finished_at": None,
    "steps": [{"step": "analysis", "label": "Analysis", "status": "succeeded", "attempt": 1,
               "queued_at": "2026-01-05T09:30:00Z", "started_at": "2026-01-05T09:30:01Z",
               "finished_at": "2026-01-05T09:30:02Z", "duration_s": 0.84, "error": "", "metrics": {"chunks": 57}}],
}


def _page_example(name: str, row: dict) -> OpenApiExample:
    return OpenApiExample(name, value={"count": 1, "next": None, "previous": None, "results": [row]},
                          response_only=True, status_codes=["200"])


def _run_example(status_code: str = "202") -> OpenApiExample:
    return OpenApiExample("The run", value=RUN_EXAMPLE, response_only=True, status_codes=[status_code])


def _request_id() -> str:
    value = context.request_id.get()
    return "" if value == "-" else value


def _document_payload(document: Document, *, created: bool) -> dict:
    run = selectors.document_latest_run(document=document)
    return {
        "created": created,
        "document": DocumentSerializer(document).data,
        "run": RunBriefSerializer(run).data if run else None,
    }


def _writable_document(request, pk: int) -> Document:
    document = selectors.document_get(user=request.user, pk=pk)
    if not selectors.document_can_write(user=request.user, document=document):
        raise PermissionDenied("You need the editor or owner role in this domain to change its documents.")
    return document


def _choice_param(request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in choices:
        raise ValidationError({name: [f"Must be one of: {', '.join(choices)}."]})
    return value


class DocumentListCreateView(APIView):
    parser_classes = [BoundedJSONParser, BoundedMultiPartParser, FormParser]
    pagination_class = BoundedLimitOffsetPagination  # also tells the schema the list is paginated

    @extend_schema(
        operation_id="documents_list",
        description="Documents of the caller's readable domains, newest first; filter by domain, status and source.",
        parameters=[
            OpenApiParameter("domain", str, description="Domain slug"),
            OpenApiParameter("status", str, enum=DocumentStatus.values),
            OpenApiParameter("source", str, enum=Document.Source.values),
        ],
        responses=DocumentSerializer(many=True),
        examples=[_page_example("Documents", DOCUMENT_EXAMPLE)],
    )
    def get(self, request):
        documents = selectors.document_list(
            user=request.user, domain_slug=request.query_params.get("domain") or None,
            status=_choice_param(request, "status", DocumentStatus.values),
            source=_choice_param(request, "source", Document.Source.values),
        )
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(documents, request, view=self)
        runs = {}
        for run in ProcessingRun.objects.filter(document__in=page).order_by("document_id", "-version__number", "-pk"):
            runs.setdefault(run.document_id, run)
        ctx = {
            "chunk_counts": selectors.document_chunk_counts(version_ids=[d.current_version_id for d in page if d.current_version_id]),
            "latest_runs": runs,
        }
        return paginator.get_paginated_response(DocumentSerializer(page, many=True, context=ctx).data)

    @extend_schema(
        operation_id="documents_create",
        request={"multipart/form-data": DocumentFileFormSerializer, "application/json": DocumentCreateSerializer},
        responses={202: DocumentAcceptedSerializer, 200: DocumentAcceptedSerializer, **ERROR_RESPONSES},
        description=(
            "Add a document by multipart upload (`file`), pasted text (`text`, `title`) or URL (`url`): exactly one "
            "of them. Answers 202 with the document and its processing run; 200 with the existing document when the "
            "identical content is already in the domain."
        ),
        examples=[
            OpenApiExample("Pasted text", value={"domain": "physics", "title": "Notes", "text": "Boundary layers form…"},
                           request_only=True, media_type="application/json"),
            OpenApiExample("Accepted", value={"created": True, "document": {**DOCUMENT_EXAMPLE, "status": "processing"},
                                              "run": RUN_BRIEF_EXAMPLE}, response_only=True, status_codes=["202"]),
        ],
    )
    def post(self, request):
        serializer_class = DocumentCreateSerializer if request.content_type.startswith("application/json") else DocumentUploadSerializer
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        domain = selectors.domain_for_write(user=request.user, slug=data["domain"])
        document, created = services.document_create(
            domain=domain, user=request.user, upload=data.get("file"), text=data.get("text") or None,
            title=data.get("title") or None, url=data.get("url") or None, request_id=_request_id(),
        )
        return Response(
            _document_payload(document, created=created), status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        )


class DocumentDetailView(APIView):
    @extend_schema(
        operation_id="documents_retrieve", description="One document with its current version and latest run.",
        responses={200: DocumentSerializer, 404: ERROR_RESPONSES[404]},
        examples=[OpenApiExample("A document", value=DOCUMENT_EXAMPLE, response_only=True)],
    )
    def get(self, request, pk: int):
        return Response(DocumentSerializer(selectors.document_get(user=request.user, pk=pk)).data)

    @extend_schema(
        operation_id="documents_destroy",
        description="Deletes the document, its versions, chunks and its share of the graph and the vectors.",
        responses={204: None, 403: ERROR_RESPONSES[403], 404: ERROR_RESPONSES[404]},
        examples=[OpenApiExample("No body", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, pk: int):
        services.document_delete(document=_writable_document(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReprocessView(APIView):
    @extend_schema(
        operation_id="documents_reprocess", request=None, description="Runs the whole pipeline again on the current version.",
        responses={202: RunSerializer, 409: OpenApiResponse(description="A run of this document is still in progress."),
                   **ERROR_RESPONSES},
        examples=[_run_example()],
    )
    def post(self, request, pk: int):
        run = services.document_reprocess(document=_writable_document(request, pk), request_id=_request_id())
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class DocumentRetryView(APIView):
    @extend_schema(
        operation_id="documents_retry_failed", request=None,
        description="Re-runs the failed step of the latest run and carries on from there.",
        responses={202: RunSerializer, 409: OpenApiResponse(description="No failed step to retry"), **ERROR_RESPONSES},
        examples=[_run_example()],
    )
    def post(self, request, pk: int):
        run = services.document_retry_failed(document=_writable_document(request, pk))
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class DocumentVersionCreateView(APIView):
    parser_classes = [BoundedMultiPartParser, FormParser, BoundedJSONParser]

    @extend_schema(
        operation_id="documents_versions_create",
        request={"multipart/form-data": NewVersionFileFormSerializer, "application/json": NewVersionSerializer},
        responses={202: RunSerializer, 200: RunSerializer, **ERROR_RESPONSES,
                   409: OpenApiResponse(description="The same content is already another document of the domain "
                                        "(`duplicate`), or an empty body for a document that has no URL to fetch "
                                        "again (`nothing_to_fetch`).")},
        description="Upload a new version (multipart: a file or a text; JSON: a text); it replaces the current one "
        "once its processing succeeds. A URL document sent an empty JSON body is fetched again.",
        examples=[
            OpenApiExample("New text", value={"text": "Boundary layers form, revised…"}, request_only=True,
                           media_type="application/json"),
            _run_example(),
        ],
    )
    def post(self, request, pk: int):
        document = _writable_document(request, pk)
        # No body at all reads like an empty JSON one: fetch a URL document again.
        is_json = not request.content_type or request.content_type.startswith("application/json")
        serializer = (NewVersionSerializer if is_json else NewVersionUploadSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        version, created = services.document_new_version(
            document=document, user=request.user, upload=serializer.validated_data.get("file"),
            text=serializer.validated_data.get("text") or None, request_id=_request_id(),
        )
        run = ProcessingRun.objects.get(version=version)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


def _version_number(request) -> int | None:
    raw = request.query_params.get("version")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValidationError({"version": ["Must be a version number (an integer from 1)."]})
    return int(raw)


class DocumentChunksView(APIView):
    pagination_class = BoundedLimitOffsetPagination  # also tells the schema the list is paginated

    @extend_schema(
        operation_id="documents_chunks", description="The chunks of a version, in order, with their offsets in its text.",
        parameters=[VERSION_PARAMETER],
        responses=ChunkSerializer(many=True),
        examples=[_page_example("Chunks", {"id": 880, "version": 1, "ordinal": 0, "text": "Boundary layers form…",
                                           "start": 0, "end": 998, "page": 1, "content_hash": "5e1a…"})],
    )
    def get(self, request, pk: int):
        document = selectors.document_get(user=request.user, pk=pk)
        version = None
        number = _version_number(request)
        if number is not None:
            version = document.versions.filter(number=number).first()
            if version is None:
                raise Http404("Version not found.")
        # Only what the serializer sends: not the version's full text nor the embeddings.
        chunks = selectors.chunk_list(document=document, version=version).select_related("version").only(
            "id", "version_id", "version__number", "ordinal", "text", "start", "end", "page", "content_hash",
        )
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(chunks, request, view=self)
        return paginator.get_paginated_response(ChunkSerializer(page, many=True).data)


class DocumentDownloadView(APIView):
    @extend_schema(
        summary="Download a document's original file",
        description="The uploaded or fetched bytes with their media type, as an attachment.",
        parameters=[VERSION_PARAMETER],
        responses={
            302: OpenApiResponse(description="Redirect to a presigned, short-lived object-storage URL (S3/MinIO)."),
            (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The file (local storage)."),
            404: OpenApiResponse(description="Unknown document, another domain's document, or no original file."),
        },
        examples=[OpenApiExample("A PDF", value="%PDF-1.7 …", response_only=True, media_type="*/*")],
    )
    def get(self, request, pk: int):
        number = _version_number(request)
        version = downloads.document_version_for_download(user=request.user, document_id=pk, number=number)
        storage = documents_storage()
        if downloads.is_object_storage(storage):
            response = HttpResponseRedirect(downloads.presigned_download_url(version=version))
        else:
            try:
                handle = storage.open(version.original.name, "rb")
            except FileNotFoundError:
                raise NotFound("The original file is missing from storage.", code="file_missing")
            response = FileResponse(
                handle, as_attachment=True, filename=downloads.download_filename(version),
                content_type=version.mime or "application/octet-stream",
            )
        response["Cache-Control"] = "private, no-store"
        return response


def _seconds(request, name: str, default: float, maximum: float) -> float:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationError({name: ["Must be a number of seconds."]})
    if value < 0:
        raise ValidationError({name: ["Must not be negative."]})
    return min(value, maximum)


def _run_snapshot(run_id: int) -> tuple[ProcessingRun, dict, str]:
    run = ProcessingRun.objects.select_related("version").get(pk=run_id)
    steps = selectors.run_steps(run=run)
    data = RunSerializer(run, context={"_steps": {run.pk: steps}}).data
    token = selectors.run_state_token(run=run, steps=steps)
    data["state"] = token
    return run, data, token


def _long_poll(run_id: int, *, wait: float, since: str | None) -> dict:
    """The run as soon as its state differs from ``since`` (or from now), it finishes, or ``wait`` runs out."""
    deadline = time.monotonic() + wait
    run, data, token = _run_snapshot(run_id)
    since = since if since is not None else token
    while token == since and not selectors.run_is_finished(run) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_SECONDS)
        run, data, token = _run_snapshot(run_id)
    return data


# One server-sent event; `data` is the run as JSON (`progress`, `done`) or a notice (`timeout`).
SSE_EVENT = {
    "type": "object",
    "description": "A server-sent event of the stream.",
    "properties": {
        "event": {"type": "string", "enum": ["progress", "done", "timeout"]},
        "data": {"type": "string", "description": "JSON: the run with its steps and `state`, or the timeout notice."},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}

WAIT_PARAMETERS = [
    OpenApiParameter("wait", NON_NEGATIVE_SECONDS,
                     description=f"Long-poll: wait up to this many seconds (>= 0; at most {LONG_POLL_MAX_SECONDS} are used) for a change"),
    OpenApiParameter("since", str, description="Long-poll: the `state` you already have; answer when it differs"),
]


class RunDetailView(APIView):
    @extend_schema(
        operation_id="runs_retrieve", parameters=WAIT_PARAMETERS, responses={200: RunSerializer, 404: ERROR_RESPONSES[404]},
        description="A processing run and its steps; with `wait`, answers as soon as its `state` differs from `since`.",
        examples=[OpenApiExample("A run", value={**RUN_EXAMPLE, "state": "b41c…"}, response_only=True)],
    )
    def get(self, request, pk: int):
        run = selectors.run_get(user=request.user, pk=pk)
        wait = _seconds(request, "wait", 0, LONG_POLL_MAX_SECONDS)
        return Response(_long_poll(run.pk, wait=wait, since=request.query_params.get("since")))


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


def run_event_stream(run_id: int, *, max_seconds: float):
    deadline = time.monotonic() + max_seconds
    last_token = None
    last_sent = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        run, data, token = _run_snapshot(run_id)
        if token != last_token:
            yield _event("progress", data)
            last_token, last_sent = token, time.monotonic()
        if selectors.run_is_finished(run):
            yield _event("done", data)
            return
        if time.monotonic() >= deadline:
            yield _event("timeout", {"id": run_id, "message": "Stream time limit reached; reconnect to continue."})
            return
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        time.sleep(POLL_INTERVAL_SECONDS)


class RunEventsView(APIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]
    # `?ticket=` first: a browser EventSource can send it (and cookies), never an Authorization header.
    authentication_classes = [RunEventsTicketAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]

    def finalize_response(self, request, response, *args, **kwargs):
        # An error (401 bad ticket, 404...) is JSON with a JSON content type even when the stream was asked for.
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        operation_id="runs_events",
        parameters=[
            OpenApiParameter("timeout", NON_NEGATIVE_SECONDS,
                             description=f"Close the stream after this many seconds (>= 0; at most {EVENTS_MAX_SECONDS} are used)"),
            *WAIT_PARAMETERS,
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(SSE_EVENT, description="The event stream (or, with `wait`, one JSON run)."),
            (200, "application/json"): RunSerializer,
        },
        examples=[OpenApiExample(
            "Events", media_type="text/event-stream", response_only=True,
            value='retry: 2000\n\nevent: progress\ndata: {"id": 31, "status": "processing", …}\n\n'
                  'event: done\ndata: {"id": 31, "status": "succeeded", …}\n\n',
        )],
        description=(
            "Server-sent events: `progress` (the run, whenever it changes), then `done` when it finishes, or "
            "`timeout` when the stream's time limit is reached. With `?wait=` it answers one long-poll JSON instead."
        ),
    )
    def get(self, request, pk: int):
        run = selectors.run_get(user=request.user, pk=pk)
        if "wait" in request.query_params:
            wait = _seconds(request, "wait", 0, LONG_POLL_MAX_SECONDS)
            return Response(_long_poll(run.pk, wait=wait, since=request.query_params.get("since")))
        max_seconds = _seconds(request, "timeout", EVENTS_MAX_SECONDS, EVENTS_MAX_SECONDS)
        response = StreamingHttpResponse(run_event_stream(run.pk, max_seconds=max_seconds), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must not buffer the stream
        return response


class RunEventsTicketView(APIView):
    @extend_schema(
        operation_id="runs_events_ticket", request=None,
        responses={200: {"type": "object", "properties": {"ticket": {"type": "string"}, "expires_in": {"type": "integer"}}},
                   403: OpenApiResponse(description="An API key asked: it can send its Authorization header"),
                   404: ERROR_RESPONSES[404]},
        description=f"A signed ticket for `GET /runs/{{id}}/events?ticket=…`, for this user and run, good for {TICKET_MAX_AGE_SECONDS} s.",
        examples=[OpenApiExample("A ticket", value={"ticket": "eyJ1c2VyIjo3LCJydW4iOjMxfQ:1tX…", "expires_in": TICKET_MAX_AGE_SECONDS},
                                 response_only=True)],
    )
    def post(self, request, pk: int):
        run = selectors.run_get(user=request.user, pk=pk)
        if not isinstance(getattr(request.user, "pk", None), int):
            raise PermissionDenied("Tickets are for people; an API key can send its Authorization header.")
        ticket = run_events_ticket_issue(user_id=request.user.pk, run_id=run.pk)
        return Response({"ticket": ticket, "expires_in": TICKET_MAX_AGE_SECONDS})
