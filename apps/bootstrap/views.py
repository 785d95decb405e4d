"""Bootstrap API: start a domain's workflow, follow it, review it, read the published overview."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.bootstrap import selectors, services
from apps.bootstrap.models import BootstrapStep, GeneratedContent
from apps.bootstrap.serializers import BootstrapCreateSerializer, CommentSerializer, ContentUpdateSerializer
from apps.core import context


class BootstrapListCreateView(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request):
        rows = [
            {"domain": b.domain.slug, "status": b.status, "current_step": b.current_step, "round": b.generation_round}
            for b in selectors.bootstrap_list(user=request.user)[:200]
        ]
        return Response({"results": rows})

    @extend_schema(request=BootstrapCreateSerializer, responses={201: dict})
    def post(self, request):
        serializer = BootstrapCreateSerializer(data=request.data)
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
    @extend_schema(responses={200: dict})
    def get(self, request, slug: str):
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap))


class BootstrapApproveView(APIView):
    @extend_schema(request=CommentSerializer, responses={202: dict})
    def post(self, request, slug: str):
        serializer = CommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        services.bootstrap_approve(user=request.user, bootstrap=bootstrap, comment=serializer.validated_data.get("comment", ""))
        bootstrap.refresh_from_db()
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap), status=status.HTTP_202_ACCEPTED)


class BootstrapRequestChangesView(APIView):
    @extend_schema(request=CommentSerializer, responses={202: dict})
    def post(self, request, slug: str):
        serializer = CommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        services.bootstrap_request_changes(
            user=request.user, bootstrap=bootstrap, comment=serializer.validated_data.get("comment", "")
        )
        bootstrap.refresh_from_db()
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap), status=status.HTTP_202_ACCEPTED)


class BootstrapStepRetryView(APIView):
    @extend_schema(request=None, responses={202: dict})
    def post(self, request, slug: str, step: str):
        bootstrap = selectors.bootstrap_get(user=request.user, slug=slug)
        step_row = BootstrapStep.objects.filter(bootstrap=bootstrap, step=step).first()
        if step_row is None:
            raise Http404("No such step.")
        services.bootstrap_retry_step(user=request.user, step=step_row)
        bootstrap.refresh_from_db()
        return Response(selectors.bootstrap_progress(bootstrap=bootstrap), status=status.HTTP_202_ACCEPTED)


class BootstrapContentView(APIView):
    @extend_schema(request=ContentUpdateSerializer, responses={200: dict})
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
    @extend_schema(responses={200: dict})
    def get(self, request, slug: str):
        return Response(selectors.overview_published(user=request.user, slug=slug))
