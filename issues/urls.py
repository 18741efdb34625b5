"""URLs of the issues API."""

from django.urls import path

from issues.apis import IssueDetailApi, IssueListApi

urlpatterns = [
    path("", IssueListApi.as_view(), name="issue-list"),
    path("<str:key>/", IssueDetailApi.as_view(), name="issue-detail"),
]
