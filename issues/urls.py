"""URLs of the issues API."""

from django.urls import path

from issues.apis import IssueDetailApi, IssueListApi, IssueSimilarApi

urlpatterns = [
    path("", IssueListApi.as_view(), name="issue-list"),
    path("<str:key>/", IssueDetailApi.as_view(), name="issue-detail"),
    path("<str:key>/similar", IssueSimilarApi.as_view(), name="issue-similar"),
]
