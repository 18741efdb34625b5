"""The project's URLs: the admin, the API and the web pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from ai_assist.schema import DocsView, SchemaView


class FaviconView(RedirectView):
    """/favicon.ico, which browsers and tools ask for whatever the page links: our SVG icon."""

    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("favicon.svg")  # at request time: the storage may name it with a hash


urlpatterns = [
    path("favicon.ico", FaviconView.as_view()),
    path("admin/", admin.site.urls),
    # Only these two of Django's account pages: the password-reset ones would need a mail server.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/issues/", include("issues.urls")),
    path("api/ai/", include("ai_assist.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="docs"),
    path("insights/", include("insights.urls")),
    path("", include("issues.page_urls")),
    path("", include("ai_assist.page_urls")),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
