"""Bootstrap API: start a domain's workflow, follow it, review it, read the published overview."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.bootstrap import selectors, services
from apps.bootstrap.models import BootstrapStep, GeneratedContent
from apps.bootstrap.serializers import (
    BootstrapCreateSerializer,
    BootstrapFormSerializer,
    BootstrapProgressSerializer,
    BootstrapRowSerializer,
    BootstrapUploadSerializer,
    CommentSerializer,
    ContentSerializer,
    ContentUpdateSerializer,
    OverviewSerializer,
    RequestChangesSerializer,
)
from apps.core import context
from apps.core.pagination import BoundedLimitOffsetPagination

NOT_NOW = OpenApiResponse(description="The bootstrap is not in a state that allows this (`conflict`).")
PROGRESS_EXAMPLE = {
    "domain": "physics", "domain_status": "review", "status": "review", "current_step": "review", "error": "",
    "topic_keywords": ["boundary layer"], "documents": {"expected": 3, "done": 3, "failed": 0}, "round": 1,
    "steps": [{"step": "research", "status": "succeeded", "attempt": 1, "error": "", "output": {"candidates": 3},
               "queued_at": "2026-01-05T09:30:00Z", "started_at": "2026-01-05T09:30:01Z",
               "finished_at": "2026-01-05T09:30:04Z"}],
    "candidates": [], "content": {"overview": [], "key_entities": [], "faq": []}, "decisions": [],
    "created_at": "2026-01-05T09:30:00Z", "activated_at": None,
}


def _progress_example(code: str) -> OpenApiExample:
    return OpenApiExample("Progress", value=PROGRESS_EXAMPLE, response_only=True, status_codes=[code])


class BootstrapListCreateView(APIView):
    pagination_class = BoundedLimitOffsetPagination  # also tells the schema the list is paginated

    @extend_schema(
        tags=["bootstrap"], description="The bootstraps of the caller's readable domains.",
        responses=BootstrapRowSerializer(many=True),
        examples=[OpenApiExample("Bootstraps", response_only=True, status_codes=["200"], value={
            "count": 1, "next": None, "previous": None,
            "results": [{"domain": "physics", "status": "review", "current_step": "review", "round": 1}]})],
    )
    def get(self, request):
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.bootstrap_list(user=request.user), request, view=self)
        rows = [
            {"domain": b.domain.slug, "status": b.status, "current_step": b.current_step, "round": b.generation_round}
            for b in page
        ]
        return paginator.get_paginated_response(rows)

    @extend_schema(
        tags=["bootstrap"],
        request={"application/json": BootstrapCreateSerializer, "multipart/form-data": BootstrapFormSerializer},
        responses={201: BootstrapProgressSerializer, 409: OpenApiResponse(description="The slug is taken (`conflict`).")},
        description="Creates a domain (the caller owns it) and starts its bootstrap: research, ingest the sources, "
        "generate the overview, key entities and FAQ, then wait for review.",
        examples=[OpenApiExample("Start", value={"name": "Physics", "topic_keywords": ["boundary layer"],
                                                 "seed_texts": [{"title": "Notes", "text": "Boundary layers form…"}]},
                                 request_only=True), _progress_example("201")],
    )
    def post(self, request):
        is_json = request.content_type.startswith("application/json")
        serializer = (BootstrapCreateSerializer if is_json else BootstrapUploadSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        texts = list(data.get("seed_texts", []))
        if data.get("seed_text", "").strip():
            texts.append({"title": "", "text": data["seed_text"]})
        bootstrap = services.bootstrap_start(
            user=request.user, name=data["name"], slug=data.get("slug", ""), description=data.get("description", ""),
            topic_keywords=data.get("topic_keywords", []), seed_urls=data.get("seed_urls", []), seed_texts=texts,
            seed_files=data.get("seed_files", []), request_id=context.request_id.get(),
        )
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap), status=status.HTTP_201_CREATED)


class BootstrapDetailView(APIView):
    @extend_schema(tags=["bootstrap"], responses=BootstrapProgressSerializer, examples=[_progress_example("200")],
                   description="Steps, sources, generated content and review decisions of a domain's bootstrap.")
    def get(self, request, slug: str):
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap))


class BootstrapApproveView(APIView):
    @extend_schema(
        tags=["bootstrap"], request=CommentSerializer, responses={202: BootstrapProgressSerializer, 409: NOT_NOW},
        description="Approves the content under review (owners and editors); the domain is then published.",
        examples=[OpenApiExample("Approve", value={"comment": "Looks right."}, request_only=True), _progress_example("202")],
    )
    def post(self, request, slug: str):
        serializer = CommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        services.bootstrap_approve(user=request.user, bootstrap=bootstrap, comment=serializer.validated_data.get("comment", ""))
        bootstrap.refresh_from_db()
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap), status=status.HTTP_202_ACCEPTED)


class BootstrapRequestChangesView(APIView):
    @extend_schema(
        tags=["bootstrap"], request=RequestChangesSerializer, responses={202: BootstrapProgressSerializer, 409: NOT_NOW},
        description="Sends the content back: it is generated again in a new round, taking the comment into account.",
        examples=[OpenApiExample("Changes", value={"comment": "Cover turbulence too."}, request_only=True),
                  _progress_example("202")],
    )
    def post(self, request, slug: str):
        serializer = RequestChangesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        services.bootstrap_request_changes(
            user=request.user, bootstrap=bootstrap, comment=serializer.validated_data.get("comment", "")
        )
        bootstrap.refresh_from_db()
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap), status=status.HTTP_202_ACCEPTED)


class BootstrapStepRetryView(APIView):
    @extend_schema(
        tags=["bootstrap"], request=None, responses={202: BootstrapProgressSerializer, 409: NOT_NOW},
        description="Runs a failed step again (`research`, `ingest`, `generate`...).", examples=[_progress_example("202")],
    )
    def post(self, request, slug: str, step: str):
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        step_row = BootstrapStep.objects.filter(bootstrap=bootstrap, step=step).first()
        if step_row is None:
            raise Http404("No such step.")
        services.bootstrap_retry_step(user=request.user, step=step_row)
        bootstrap.refresh_from_db()
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap), status=status.HTTP_202_ACCEPTED)


class BootstrapContentView(APIView):
    @extend_schema(
        tags=["bootstrap"], request=ContentUpdateSerializer, responses={200: ContentSerializer, 409: NOT_NOW},
        description="Edits one generated item under review (its title or body).",
        examples=[OpenApiExample("Edit", value={"body": "Boundary layers form where…"}, request_only=True),
                  OpenApiExample("Edited", response_only=True, value={
                      "id": 5, "section": "overview", "title": "", "body": "Boundary layers form where…",
                      "citations": [], "status": "draft"})],
    )
    def patch(self, request, slug: str, content_id: int):
        serializer = ContentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        content = GeneratedContent.objects.filter(bootstrap=bootstrap, pk=content_id).select_related("bootstrap").first()
        if content is None:
            raise Http404("No such content.")
        content = services.content_update(user=request.user, content=content, **serializer.validated_data)
        return Response({"id": content.pk, "section": content.section, "title": content.title, "body": content.body,
                         "citations": content.citations, "status": content.status})


class DomainOverviewView(APIView):
    @extend_schema(
        tags=["bootstrap"], responses=OverviewSerializer,
        description="The approved content of a published domain; 404 until it is published.",
        examples=[OpenApiExample("Overview", response_only=True, value={
            "domain": "physics", "name": "Physics", "published_at": "2026-01-05T10:00:00Z", "round": 1,
            "overview": [{"id": 5, "text": "Boundary layers form…", "citations": [], "edited": False}],
            "key_entities": [], "faq": []})],
    )
    def get(self, request, slug: str):
        return Response(selectors.overview_published(user=request.user, slug=slug))
