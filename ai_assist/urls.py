"""URLs of the AI assistant's API."""

from django.urls import path

from ai_assist import apis, views

urlpatterns = [
    path("refine-description-stream", views.refine_description_stream, name="refine-stream"),
    path("estimate-points-stream", views.estimate_points_stream, name="estimate-stream"),
    path("breakdown-issue-stream", views.breakdown_issue_stream, name="breakdown-stream"),
    path("refine-description", apis.RefineDescriptionApi.as_view(), name="refine"),
    path("estimate-points", apis.EstimatePointsApi.as_view(), name="estimate"),
    path("breakdown-issue", apis.BreakdownIssueApi.as_view(), name="breakdown"),
    path("usage/", apis.UsageApi.as_view(), name="usage"),
    path("suggestions/", apis.SuggestionListApi.as_view(), name="suggestion-list"),
    path("suggestions/<int:pk>/", apis.SuggestionDetailApi.as_view(), name="suggestion-detail"),
    path(
        "suggestions/<int:pk>/accept", apis.SuggestionAcceptApi.as_view(), name="suggestion-accept"
    ),
    path(
        "suggestions/<int:pk>/reject", apis.SuggestionRejectApi.as_view(), name="suggestion-reject"
    ),
    path("suggestions/<int:pk>/events", views.suggestion_events, name="suggestion-events"),
    path(
        "suggestions/<int:pk>/cancel", apis.SuggestionCancelApi.as_view(), name="suggestion-cancel"
    ),
    path(
        "suggestions/<int:pk>/revert", apis.SuggestionRevertApi.as_view(), name="suggestion-revert"
    ),
]
