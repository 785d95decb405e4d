"""OpenAPI description of the API key scheme (imported by the views so drf-spectacular sees it)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.domains.authentication import HEADER_KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.domains.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"Per-domain API key: `Authorization: {HEADER_KEYWORD} hk_<prefix>_<secret>`.",
        }
