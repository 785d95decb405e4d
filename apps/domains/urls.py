from django.urls import path

from apps.domains import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("domains/", views.DomainListCreateView.as_view(), name="domain-list"),
    path("domains/<slug:slug>/", views.DomainDetailView.as_view(), name="domain-detail"),
    path("domains/<slug:slug>/members/", views.MembershipListCreateView.as_view(), name="membership-list"),
    path("domains/<slug:slug>/members/<int:membership_id>/", views.MembershipDetailView.as_view(), name="membership-detail"),
    path("domains/<slug:slug>/api-keys/", views.ApiKeyListCreateView.as_view(), name="apikey-list"),
    path("domains/<slug:slug>/api-keys/<int:api_key_id>/", views.ApiKeyDetailView.as_view(), name="apikey-detail"),
]
