from django.urls import path

from apps.bootstrap import views

urlpatterns = [
    path("bootstraps/", views.BootstrapListCreateView.as_view(), name="bootstrap-list"),
    path("domains/<slug:slug>/bootstrap/", views.BootstrapDetailView.as_view(), name="bootstrap-detail"),
    path("domains/<slug:slug>/bootstrap/approve/", views.BootstrapApproveView.as_view(), name="bootstrap-approve"),
    path("domains/<slug:slug>/bootstrap/request-changes/", views.BootstrapRequestChangesView.as_view(),
         name="bootstrap-request-changes"),
    path("domains/<slug:slug>/bootstrap/steps/<str:step>/retry/", views.BootstrapStepRetryView.as_view(),
         name="bootstrap-step-retry"),
    path("domains/<slug:slug>/bootstrap/content/<int:content_id>/", views.BootstrapContentView.as_view(),
         name="bootstrap-content"),
    path("domains/<slug:slug>/overview/", views.DomainOverviewView.as_view(), name="domain-overview"),
]
