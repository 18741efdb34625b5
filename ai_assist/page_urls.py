"""URLs of the AI assistant's parts of the web pages."""

from django.urls import path

from ai_assist import pages

urlpatterns = [
    path(
        "issues/<str:key>/suggestions/<int:pk>/review/",
        pages.suggestion_review,
        name="suggestion-review",
    ),
]
