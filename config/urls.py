"""The project's URLs: the admin, the API and the web pages."""

from django.contrib import admin
from django.urls import include, path

from ai_assist.schema import DocsView, SchemaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/issues/", include("issues.urls")),
    path("api/ai/", include("ai_assist.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="docs"),
    path("", include("issues.page_urls")),
]
