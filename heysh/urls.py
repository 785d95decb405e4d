from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.cms.platform_metrics import metrics_view
from apps.core import views as core_views
from apps.core.errors import json_error_view

api_v1 = [
    path("auth/token/", TokenObtainPairView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("", include("apps.domains.urls")),
    path("", include("apps.bootstrap.urls")),
    path("", include("apps.documents.urls")),
    path("", include("apps.search.urls")),
]

# The Swagger UI comes from its CDN (SWAGGER_UI_DIST); the split view serves its start-up
# script as a file of our own, so no inline script needs allowing.
_SWAGGER_CDN = spectacular_settings.SWAGGER_UI_DIST.split("/npm/")[0]
api_docs_view = csp_update({"script-src": [_SWAGGER_CDN], "style-src": [_SWAGGER_CDN, UNSAFE_INLINE], "img-src": [_SWAGGER_CDN]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

urlpatterns = [
    path("health", core_views.health, name="health"),
    path("ready", core_views.ready, name="ready"),
    # django-prometheus + apps.core.metrics (multiprocess-aware) + the platform collector.
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs_view, name="api-docs"),
    path("admin/", admin.site.urls),
]

handler400 = json_error_view("bad_request", "Bad request.", 400)
handler403 = json_error_view("permission_denied", "You do not have permission to perform this action.", 403)
handler404 = json_error_view("not_found", "Not found.", 404)
handler500 = json_error_view("server_error", "Internal server error.", 500)
