"""URLs that fail on purpose, for the error-body tests (used with @pytest.mark.urls)."""

from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny

from apps.core import exceptions
from heysh.urls import urlpatterns as project_urlpatterns

SERVICE_ERRORS = {error.kind: error for error in (exceptions.ServiceError, *exceptions.ServiceError.__subclasses__())}


@api_view(["GET"])
@permission_classes([AllowAny])
def api_crash(request):
    raise RuntimeError("boom in an API view")


@api_view(["GET"])
@permission_classes([AllowAny])
def service_refusal(request, kind):
    raise SERVICE_ERRORS[kind]("Refused on purpose.", detail={"field": ["Wrong."]})


def django_crash(request):
    raise RuntimeError("boom in a plain view")


urlpatterns = [
    path("crash/api", api_crash),
    path("crash/plain", django_crash),
    path("refuse/<str:kind>", service_refusal),
    path("", include(project_urlpatterns)),
]

handler400 = "heysh.urls.handler400"
handler403 = "heysh.urls.handler403"
handler404 = "heysh.urls.handler404"
handler500 = "heysh.urls.handler500"
