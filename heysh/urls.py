from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.cms import views as cms_views
from apps.cms.platform_metrics import metrics_view
from apps.core import views as core_views
from apps.core.errors import json_error_view
from apps.domains.views import TokenObtainView, TokenRefreshView

api_v1 = [
    path("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("", include("apps.domains.urls")),
    path("", include("apps.bootstrap.urls")),
    path("", include("apps.documents.urls")),
    path("", include("apps.search.urls")),
]

# The Swagger UI is served from our static files (drf-spectacular-sidecar, SWAGGER_UI_DIST="SIDECAR"),
# so it works offline; the split view serves its start-up script as a file of our own, so no
# inline script needs allowing. Swagger UI sets inline styles on its elements.
api_docs_view = csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="schema"))

urlpatterns = [
    # The admin is the CMS: the site root leads there, and browsers asking for /favicon.ico get the CMS icon.
    path("", cms_views.site_root, name="root"),
    path("favicon.ico", cms_views.favicon, name="favicon"),
    path("health", core_views.health, name="health"),
    path("ready", core_views.ready, name="ready"),
    # django-prometheus + apps.core.metrics (multiprocess-aware) + the platform collector.
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs_view, name="api-docs"),
    # Before the admin's catch-all: the admin pages poll it while something runs (cms/live.js).
    path("admin/live/progress/", cms_views.live_progress, name="cms-live-progress"),
    path("admin/", admin.site.urls),
]

handler400 = json_error_view("bad_request", "Bad request.", 400)
handler403 = json_error_view("permission_denied", "You do not have permission to perform this action.", 403)
handler404 = json_error_view("not_found", "Not found.", 404)
handler500 = json_error_view("server_error", "Internal server error.", 500)
