"""Domains API: thin views over ``selectors`` (reads, scoped) and ``services`` (writes).

Every lookup goes through the caller's readable domains first, so another domain's
slug, member or key answers 404. A 403 only ever concerns a domain the caller can
already see (a viewer trying to write, an editor managing members).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as simplejwt_views
from rest_framework_simplejwt.views import TokenObtainPairView

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
OWNERS_ONLY = OpenApiResponse(description="The caller can read the domain but is not its owner (`permission_denied`).")
LAST_OWNER = OpenApiResponse(description="The domain would have no owner left (`last_owner`).")

DOMAIN_EXAMPLE = OpenApiExample(
    "A domain",
    value={"slug": "physics", "name": "Physics", "description": "Papers of the physics group.", "status": "active",
           "role": "owner", "webhook_url": "", "created_at": "2026-01-05T09:30:00Z", "updated_at": "2026-01-05T09:30:00Z"},
    response_only=True, status_codes=["200", "201"],
)
MEMBER_EXAMPLE = OpenApiExample(
    "A member",
    value={"id": 12, "username": "ada", "email": "ada@example.com", "role": "editor", "created_at": "2026-01-05T09:30:00Z"},
    response_only=True, status_codes=["200", "201"],
)
API_KEY_EXAMPLE = OpenApiExample(
    "A key",
    value={"id": 4, "name": "indexer", "prefix": "Xk3v9QaB", "role": "editor", "created_by": "ada",
           "created_at": "2026-01-05T09:30:00Z", "last_used_at": None, "revoked_at": None},
    response_only=True, status_codes=["200"],
)


def _page(example: OpenApiExample) -> OpenApiExample:
    return OpenApiExample(
        example.name + " list", value={"count": 1, "next": None, "previous": None, "results": [example.value]},
        response_only=True, status_codes=["200"],
    )


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

    @extend_schema(
        summary="Domains the caller can read",
        description="Every domain the caller is a member of (an API key: its one domain), with the caller's role.",
        responses=DomainSerializer(many=True), examples=[_page(DOMAIN_EXAMPLE)],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DomainSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a domain (the caller becomes its owner)",
        description="People only (an API key gets 403). A slug already taken is a 409 naming `slug`.",
        responses={201: DomainSerializer, 403: OpenApiResponse(description="API keys cannot create domains."),
                   409: OpenApiResponse(description="The slug is taken (`conflict`).")},
        examples=[OpenApiExample("New domain", value={"slug": "physics", "name": "Physics"}, request_only=True), DOMAIN_EXAMPLE],
    )
    def post(self, request):
        serializer = DomainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        domain = services.domain_create(user=request.user, **serializer.validated_data)
        domain = selectors.domain_get(user=request.user, slug=domain.slug)
        return Response(DomainSerializer(domain).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["domains"], parameters=[SLUG])
class DomainDetailView(APIView):
    serializer_class = DomainSerializer

    @extend_schema(summary="One domain", description="A domain the caller can read, with the caller's role.",
                   responses=DomainSerializer, examples=[DOMAIN_EXAMPLE])
    def get(self, request, slug):
        return Response(DomainSerializer(selectors.domain_get(user=request.user, slug=slug)).data)

    @extend_schema(
        summary="Change a domain (owners and editors)",
        description="`name`, `description`, `webhook_url` and `webhook_secret`; `slug` and `status` are read-only.",
        request=DomainUpdateSerializer, responses=DomainSerializer,
        examples=[OpenApiExample("Rename", value={"name": "Physics and astronomy"}, request_only=True), DOMAIN_EXAMPLE],
    )
    def patch(self, request, slug):
        domain = selectors.domain_get(user=request.user, slug=slug)
        serializer = DomainUpdateSerializer(domain, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.domain_update(user=request.user, domain=domain, **serializer.validated_data)
        return Response(DomainSerializer(selectors.domain_get(user=request.user, slug=slug)).data)

    @extend_schema(
        summary="Delete a domain and everything in it (owners)",
        description="Documents, versions, chunks, the graph and the vectors of the domain go with it.",
        responses={204: NO_CONTENT}, examples=[OpenApiExample("No body", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, slug):
        domain = selectors.domain_get(user=request.user, slug=slug)
        services.domain_delete(user=request.user, domain=domain)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["members"], parameters=[SLUG])
class MembershipListCreateView(generics.GenericAPIView):
    serializer_class = MembershipSerializer

    @extend_schema(summary="Members of a domain (owners)", description="Each member's user and role.",
                   responses={200: MembershipSerializer(many=True), 403: OWNERS_ONLY}, examples=[_page(MEMBER_EXAMPLE)])
    def get(self, request, slug):
        domain = _owned_domain(request, slug)
        page = self.paginate_queryset(selectors.membership_list(domain=domain))
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(
        summary="Add a member (owners)",
        description="An existing user by name; the role defaults to `viewer`. An unknown user is a 404 `unknown_user`, "
        "a member already a 409.",
        request=MembershipCreateSerializer,
        responses={201: MembershipSerializer, 403: OWNERS_ONLY,
                   404: OpenApiResponse(description="No such domain (`not_found`), or no active user of that name "
                                        "(`unknown_user`)."),
                   409: OpenApiResponse(description="Already a member.")},
        examples=[OpenApiExample("Add", value={"username": "ada", "role": "editor"}, request_only=True), MEMBER_EXAMPLE],
    )
    def post(self, request, slug):
        domain = _owned_domain(request, slug)
        serializer = MembershipCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_add(actor=request.user, domain=domain, **serializer.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["members"], parameters=[SLUG, MEMBERSHIP_ID])
class MembershipDetailView(APIView):
    serializer_class = MembershipSerializer

    @extend_schema(summary="One member (owners)", description="A member of the domain by membership id.",
                   responses={200: MembershipSerializer, 403: OWNERS_ONLY}, examples=[MEMBER_EXAMPLE])
    def get(self, request, slug, membership_id):
        domain = _owned_domain(request, slug)
        return Response(MembershipSerializer(selectors.membership_get(domain=domain, membership_id=membership_id)).data)

    @extend_schema(
        summary="Change a member's role (owners)",
        description="Demoting the last owner is a 409 `last_owner`; a body without `role` changes nothing.",
        request=MembershipRoleSerializer, responses={200: MembershipSerializer, 409: LAST_OWNER},
        examples=[OpenApiExample("Promote", value={"role": "owner"}, request_only=True), MEMBER_EXAMPLE],
    )
    def patch(self, request, slug, membership_id):
        domain = _owned_domain(request, slug)
        membership = selectors.membership_get(domain=domain, membership_id=membership_id)
        serializer = MembershipRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "role" in serializer.validated_data:
            membership = services.membership_change_role(actor=request.user, membership=membership, **serializer.validated_data)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(
        summary="Remove a member (owners; never the last owner)", description="The member loses access on their next request.",
        responses={204: NO_CONTENT, 409: LAST_OWNER},
        examples=[OpenApiExample("No body", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, slug, membership_id):
        domain = _owned_domain(request, slug)
        membership = selectors.membership_get(domain=domain, membership_id=membership_id)
        services.membership_remove(actor=request.user, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["api keys"], parameters=[SLUG])
class ApiKeyListCreateView(generics.GenericAPIView):
    serializer_class = ApiKeySerializer

    @extend_schema(summary="API keys of a domain (owners); never the key itself",
                   description="Revoked keys stay listed with their `revoked_at`.",
                   responses={200: ApiKeySerializer(many=True), 403: OWNERS_ONLY}, examples=[_page(API_KEY_EXAMPLE)])
    def get(self, request, slug):
        domain = _owned_domain(request, slug)
        page = self.paginate_queryset(selectors.api_key_list(domain=domain))
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(
        summary="Create an API key (owners); the response holds the key, shown this once",
        description="Only the key's SHA-256 is stored: keep `key` now, it cannot be shown again.",
        request=ApiKeySerializer, responses={201: ApiKeyCreatedSerializer},
        examples=[
            OpenApiExample("New key", value={"name": "indexer", "role": "editor"}, request_only=True),
            OpenApiExample("Created", value={**API_KEY_EXAMPLE.value, "key": "hk_Xk3v9QaB_0d2f…"}, response_only=True,
                           status_codes=["201"]),
        ],
    )
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

    @extend_schema(summary="One API key (owners)", description="The key's metadata; never the key.",
                   responses={200: ApiKeySerializer, 403: OWNERS_ONLY}, examples=[API_KEY_EXAMPLE])
    def get(self, request, slug, api_key_id):
        domain = _owned_domain(request, slug)
        return Response(ApiKeySerializer(selectors.api_key_get(domain=domain, api_key_id=api_key_id)).data)

    @extend_schema(
        summary="Revoke an API key (owners); it stops working at once", description="Sets `revoked_at`; the key then answers 401.",
        responses={204: NO_CONTENT}, examples=[OpenApiExample("No body", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, slug, api_key_id):
        domain = _owned_domain(request, slug)
        api_key = selectors.api_key_get(domain=domain, api_key_id=api_key_id)
        services.api_key_revoke(actor=request.user, api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class MeView(APIView):
    serializer_class = MeSerializer

    @extend_schema(
        summary="The caller and their domains with roles",
        description="For an API key `id`, `username` and `email` are null and `api_key` describes the key.",
        responses=MeSerializer,
        examples=[OpenApiExample("A person", value={
            "id": 3, "username": "ada", "email": "ada@example.com", "is_staff": False, "api_key": None,
            "domains": [{"slug": "physics", "name": "Physics", "role": "owner"}]}, response_only=True)],
    )
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


TOKEN_PAIR_EXAMPLE = OpenApiExample(
    "Tokens", value={"access": "eyJhbGciOiJIUzI1NiIs…", "refresh": "eyJhbGciOiJIUzI1NiIs…"}, response_only=True,
)


@extend_schema_view(
    post=extend_schema(
        tags=["auth"], summary="Log in: a JWT access and refresh token",
        description="Wrong credentials are a 401 `no_active_account`; too many failures of one username from one address "
        "lock the pair out (429 `locked_out`) for `HEYSH_LOGIN_LOCKOUT_MINUTES`.",
        examples=[OpenApiExample("Log in", value={"username": "ada", "password": "correct horse"}, request_only=True),
                  TOKEN_PAIR_EXAMPLE],
    )
)
class TokenObtainView(TokenObtainPairView):
    pass


@extend_schema_view(
    post=extend_schema(
        tags=["auth"], summary="Renew the tokens",
        description="A refresh token is good once: the answer holds a new access and refresh token and the old refresh "
        "token is blacklisted. A refresh token issued before a password change is a 401.",
        examples=[OpenApiExample("Renew", value={"refresh": "eyJhbGciOiJIUzI1NiIs…"}, request_only=True), TOKEN_PAIR_EXAMPLE],
    )
)
class TokenRefreshView(simplejwt_views.TokenRefreshView):
    pass
