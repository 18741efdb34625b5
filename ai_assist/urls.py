"""URLs of the AI assistant's API."""

from django.urls import path

from ai_assist import views

urlpatterns = [
    path("refine-description-stream", views.refine_description_stream, name="refine-stream"),
    path("estimate-points-stream", views.estimate_points_stream, name="estimate-stream"),
    path("breakdown-issue-stream", views.breakdown_issue_stream, name="breakdown-stream"),
]
