"""The issues API: list, create, retrieve, update and delete issues by key."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from issues import selectors, services
from issues.models import Issue
from issues.serializers import IssueSerializer
from issues.similar import similar_to


class IssuePermission(permissions.IsAuthenticated):
    """The tracker is the team's: every member reads, creates and edits its issues; deleting
    one takes staff, or Django's permission to delete issues (as in admin).
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method != "DELETE" or can_delete_issues(request.user)


def can_delete_issues(user: Any) -> bool:
    return user.is_active and (user.is_staff or user.has_perm("issues.delete_issue"))


def _saving(save: Any, **fields: Any) -> Issue:
    try:
        return save(**fields)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from error


class IssueListApi(generics.ListCreateAPIView):
    """List issues (`?search=`, `?type=`) or create one; a missing key gets the next free one."""

    serializer_class = IssueSerializer
    permission_classes = [IssuePermission]

    def get_queryset(self) -> Any:
        return selectors.issue_list(
            search=self.request.query_params.get("search", ""),
            type=self.request.query_params.get("type", ""),
        )

    def perform_create(self, serializer: IssueSerializer) -> None:
        serializer.instance = _saving(services.issue_create, **serializer.validated_data)


class IssueDetailApi(generics.RetrieveUpdateDestroyAPIView):
    """Read or edit an issue (its key is fixed); deleting it takes staff or the permission."""

    serializer_class = IssueSerializer
    permission_classes = [IssuePermission]
    lookup_field = "key"
    queryset = Issue.objects.select_related("parent")

    def get_object(self) -> Issue:
        self.kwargs["key"] = self.kwargs["key"].upper()  # keys in any letter case, as elsewhere
        return super().get_object()

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
