"""The issues API: list, create, retrieve, update and delete issues by key."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import generics, serializers

from issues import selectors, services
from issues.models import Issue
from issues.serializers import IssueSerializer


def _saving(save: Any, **fields: Any) -> Issue:
    try:
        return save(**fields)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from error


class IssueListApi(generics.ListCreateAPIView):
    """List issues (`?search=`, `?type=`) or create one; a missing key gets the next free one."""

    serializer_class = IssueSerializer

    def get_queryset(self) -> Any:
        return selectors.issue_list(
            search=self.request.query_params.get("search", ""),
            type=self.request.query_params.get("type", ""),
        )

    def perform_create(self, serializer: IssueSerializer) -> None:
        serializer.instance = _saving(services.issue_create, **serializer.validated_data)


class IssueDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = IssueSerializer
    lookup_field = "key"
    queryset = Issue.objects.select_related("parent")

    def perform_update(self, serializer: IssueSerializer) -> None:
        serializer.instance = _saving(
            services.issue_update, issue=serializer.instance, **serializer.validated_data
        )
