"""Domains API: thin views over ``selectors`` (reads, scoped) and ``services`` (writes).

Every lookup goes through the caller's readable domains first, so another domain's
slug, member or key answers 404. A 403 only ever concerns a domain the caller can
already see (a viewer trying to write, an editor managing members).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import Forbidden
from apps.domains import schema, selectors, services  # noqa: F401  (schema registers the API key scheme)
from apps.domains.access import owned_domains
from apps.domains.authentication import ApiKeyPrincipal
from apps.domains.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeySerializer,
    DomainSerializer,
    DomainUpdateSerializer,
    MembershipCreateSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    MeSerializer,
)

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The domain's slug.")
MEMBERSHIP_ID = OpenApiParameter("membership_id", int, OpenApiParameter.PATH)
API_KEY_ID = OpenApiParameter("api_key_id", int, OpenApiParameter.PATH)
NO_CONTENT = OpenApiResponse(description="Done; no body.")


def _owned_domain(request, slug: str):
    """The domain, if the caller may manage it: 404 if invisible, 403 if visible but not owned."""
    domain = selectors.domain_get(user=request.user, slug=slug)
    if not owned_domains(request.user).filter(pk=domain.pk).exists():
        raise Forbidden("Only an owner of this domain may manage its members and API keys.")
    return domain


@extend_schema(tags=["domains"])
class DomainListCreateView(generics.GenericAPIView):
    serializer_class = DomainSerializer

    def get_queryset(self):
        return selectors.domain_list(user=self.request.user)

    @extend_schema(summary="Domains the caller can read", responses=DomainSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DomainSerializer(page, many=True).data)

    @extend_schema(summary="Create a domain (the caller becomes its owner)", responses={201: DomainSerializer})
    def post(self, request):
        serializer = DomainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        domain = services.domain_create(user=request.user, **serializer.validated_data)
        domain = selectors.domain_get(user=request.user, slug=domain.slug)
        return Response(DomainSerializer(domain).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["domains"], parameters=[SLUG])
class DomainDetailView(APIView):
    serializer_class = DomainSerializer

    @extend_schema(summary="One domain", responses=DomainSerializer)
    def get(self, request, slug):
        return Response(DomainSerializer(selectors.domain_get(user=request.user, slug=slug)).data)

    @extend_schema(summary="Change a domain (owners and editors)", request=DomainUpdateSerializer, responses=DomainSerializer)
    def patch(self, request, slug):
        domain = selectors.domain_get(user=request.user, slug=slug)
        serializer = DomainUpdateSerializer(domain, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.domain_update(user=request.user, domain=domain, **serializer.validated_data)
        return Response(DomainSerializer(selectors.domain_get(user=request.user, slug=slug)).data)

    @extend_schema(summary="Delete a domain and everything in it (owners)", responses={204: NO_CONTENT})
    def delete(self, request, slug):
        domain = selectors.domain_get(user=request.user, slug=slug)
        services.domain_delete(user=request.user, domain=domain)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["members"], parameters=[SLUG])
class MembershipListCreateView(generics.GenericAPIView):
    serializer_class = MembershipSerializer

    @extend_schema(summary="Members of a domain (owners)", responses=MembershipSerializer(many=True))
    def get(self, request, slug):
        domain = _owned_domain(request, slug)
        page = self.paginate_queryset(selectors.membership_list(domain=domain))
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(summary="Add a member (owners)", request=MembershipCreateSerializer, responses={201: MembershipSerializer})
    def post(self, request, slug):
        domain = _owned_domain(request, slug)
        serializer = MembershipCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_add(actor=request.user, domain=domain, **serializer.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["members"], parameters=[SLUG, MEMBERSHIP_ID])
class MembershipDetailView(APIView):
    serializer_class = MembershipSerializer

    @extend_schema(summary="One member (owners)", responses=MembershipSerializer)
    def get(self, request, slug, membership_id):
        domain = _owned_domain(request, slug)
        return Response(MembershipSerializer(selectors.membership_get(domain=domain, membership_id=membership_id)).data)

    @extend_schema(summary="Change a member's role (owners)", request=MembershipRoleSerializer, responses=MembershipSerializer)
    def patch(self, request, slug, membership_id):
        domain = _owned_domain(request, slug)
        membership = selectors.membership_get(domain=domain, membership_id=membership_id)
        serializer = MembershipRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_change_role(actor=request.user, membership=membership, **serializer.validated_data)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(summary="Remove a member (owners; never the last owner)", responses={204: NO_CONTENT})
    def delete(self, request, slug, membership_id):
        domain = _owned_domain(request, slug)
        membership = selectors.membership_get(domain=domain, membership_id=membership_id)
        services.membership_remove(actor=request.user, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["api keys"], parameters=[SLUG])
class ApiKeyListCreateView(generics.GenericAPIView):
    serializer_class = ApiKeySerializer

    @extend_schema(summary="API keys of a domain (owners); never the key itself", responses=ApiKeySerializer(many=True))
    def get(self, request, slug):
        domain = _owned_domain(request, slug)
        page = self.paginate_queryset(selectors.api_key_list(domain=domain))
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(summary="Create an API key (owners); the response holds the key, shown this once",
                   request=ApiKeySerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request, slug):
        domain = _owned_domain(request, slug)
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, raw = services.api_key_create(actor=request.user, domain=domain, **serializer.validated_data)
        api_key.key = raw
        return Response(ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["api keys"], parameters=[SLUG, API_KEY_ID])
class ApiKeyDetailView(APIView):
    serializer_class = ApiKeySerializer

    @extend_schema(summary="One API key (owners)", responses=ApiKeySerializer)
    def get(self, request, slug, api_key_id):
        domain = _owned_domain(request, slug)
        return Response(ApiKeySerializer(selectors.api_key_get(domain=domain, api_key_id=api_key_id)).data)

    @extend_schema(summary="Revoke an API key (owners); it stops working at once", responses={204: NO_CONTENT})
    def delete(self, request, slug, api_key_id):
        domain = _owned_domain(request, slug)
        api_key = selectors.api_key_get(domain=domain, api_key_id=api_key_id)
        services.api_key_revoke(actor=request.user, api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class MeView(APIView):
    serializer_class = MeSerializer

    @extend_schema(summary="The caller and their domains with roles", responses=MeSerializer)
    def get(self, request):
        user = request.user
        is_key = isinstance(user, ApiKeyPrincipal)
        payload = {
            "id": None if is_key else user.pk,
            "username": None if is_key else user.get_username(),
            "email": None if is_key else user.email,
            "is_staff": False if is_key else user.is_staff,
            "api_key": ApiKeySerializer(user.api_key).data if is_key else None,
            "domains": selectors.user_memberships(user=user),
        }
        return Response(MeSerializer(payload).data)
