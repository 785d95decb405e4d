from django.urls import path

from apps.search import views

urlpatterns = [
    path("search", views.SearchView.as_view(), name="search"),
    path("entities", views.EntityListView.as_view(), name="entity-list"),
    path("entities/<int:entity_id>", views.EntityDetailView.as_view(), name="entity-detail"),
    path("entities/<int:entity_id>/neighbours", views.EntityNeighboursView.as_view(), name="entity-neighbours"),
    path("entities/<int:entity_id>/path/<int:target_id>", views.EntityPathView.as_view(), name="entity-path"),
    path("entities/<int:entity_id>/documents", views.EntityDocumentsView.as_view(), name="entity-documents"),
]
