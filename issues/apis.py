"""The issues API: list, create, retrieve, update and delete issues by key."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from issues import selectors, services
from issues.models import Issue
from issues.serializers import IssueSerializer
from issues.similar import similar_to


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


class IssueSimilarApi(APIView):
    """The issues of the same project most similar to this one (likely duplicates, or the past
    work it resembles), most similar first; never the issue itself or its children."""

    class OutputSerializer(serializers.Serializer):
        key = serializers.CharField()
        title = serializers.CharField()
        storyPoints = serializers.IntegerField(allow_null=True)
        similarity = serializers.FloatField(
            min_value=0, max_value=1, help_text="1: the same words; 0: none in common."
        )

    @extend_schema(responses=OutputSerializer(many=True), operation_id="issues_similar")
    def get(self, request: Request, key: str) -> Response:
        issue = get_object_or_404(Issue, key=key.upper())
        similar = [item.as_dict() for item in similar_to(issue=issue, limit=10)]
        return Response(self.OutputSerializer(similar, many=True).data)
