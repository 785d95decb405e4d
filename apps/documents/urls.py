from django.urls import path

from apps.documents import views

urlpatterns = [
    path("documents", views.DocumentListCreateView.as_view(), name="document-list"),
    path("documents/<int:pk>", views.DocumentDetailView.as_view(), name="document-detail"),
    path("documents/<int:pk>/reprocess", views.DocumentReprocessView.as_view(), name="document-reprocess"),
    path("documents/<int:pk>/retry", views.DocumentRetryView.as_view(), name="document-retry"),
    path("documents/<int:pk>/versions", views.DocumentVersionCreateView.as_view(), name="document-versions"),
    path("documents/<int:pk>/chunks", views.DocumentChunksView.as_view(), name="document-chunks"),
    path("documents/<int:pk>/download", views.DocumentDownloadView.as_view(), name="document-download"),
    path("runs/<int:pk>", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/events", views.RunEventsView.as_view(), name="run-events"),
    path("runs/<int:pk>/events/ticket", views.RunEventsTicketView.as_view(), name="run-events-ticket"),
]
