"""Request/response shapes of the domains API. Validation only; writes go through services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.fields import HttpUrlField, NonBlankCharField, StrictCharField, StrictSlugField
from apps.core.netguard import HTTP_URL_PATTERN
from apps.domains.models import ApiKey, Domain, Membership
from apps.domains.services import MAX_DESCRIPTION_CHARS
from apps.domains.validators import validate_webhook_url


@extend_schema_field({
    "oneOf": [{"type": "string", "maxLength": 200, "pattern": HTTP_URL_PATTERN}, {"type": "string", "maxLength": 0}],
    "description": "POSTed a signed JSON event when a document finishes; empty for none. Public addresses only "
    "(unless HEYSH_WEBHOOK_ALLOW_PRIVATE).",
})
class WebhookUrlField(HttpUrlField):
    """The model's URLField with the shape the schema states instead of Django's URLValidator."""

    def __init__(self, **kwargs):
        super().__init__(max_length=200, allow_blank=True, validators=[validate_webhook_url], **kwargs)


class DomainSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="caller_role", read_only=True, allow_null=True,
                                 help_text="The caller's role in this domain: owner, editor or viewer.")
    # Declared, so without ModelSerializer's unique validator: a taken slug is domain_create's 409.
    slug = StrictSlugField(max_length=80)
    name = NonBlankCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_DESCRIPTION_CHARS)
    webhook_url = WebhookUrlField(required=False)
    webhook_secret = StrictCharField(write_only=True, required=False, allow_blank=True, max_length=200)

    class Meta:
        model = Domain
        fields = ["slug", "name", "description", "status", "role", "webhook_url", "webhook_secret", "created_at", "updated_at"]
        read_only_fields = ["status", "created_at", "updated_at"]


class DomainUpdateSerializer(DomainSerializer):
    slug = serializers.SlugField(read_only=True)

    class Meta(DomainSerializer.Meta):
        read_only_fields = ["slug", "status", "created_at", "updated_at"]


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True, help_text="May be empty.")

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class MembershipCreateSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, trim_whitespace=False, help_text="An existing, active user (404 if none).")
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.VIEWER)


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices, required=False, help_text="Left out: nothing changes.")


class ApiKeySerializer(serializers.ModelSerializer):
    name = StrictCharField(max_length=100)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "role", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The full key. Shown once: only its hash is stored.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class DomainRoleSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="The user's id; null for an API key.")
    username = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    is_staff = serializers.BooleanField()
    api_key = ApiKeySerializer(allow_null=True, help_text="Set when the request is authenticated with an API key.")
    domains = DomainRoleSerializer(many=True)
