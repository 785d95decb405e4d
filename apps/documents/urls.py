from django.urls import path  # noqa: F401

urlpatterns: list = []

from apps.documents.downloads import DocumentDownloadView  # noqa: E402

urlpatterns += [path("documents/<int:pk>/download", DocumentDownloadView.as_view(), name="document-download")]
