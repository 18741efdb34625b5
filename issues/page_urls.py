"""URLs of the web pages."""

from django.urls import path

from issues import views

app_name = "pages"

urlpatterns = [
    path("", views.issue_list, name="issue-list"),
    path("issues/new/", views.issue_create, name="issue-create"),
    path("issues/<str:key>/", views.issue_detail, name="issue-detail"),
    path("issues/<str:key>/edit/", views.issue_edit, name="issue-edit"),
]
