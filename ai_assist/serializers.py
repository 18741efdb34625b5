"""The input of the three AI operations, validated alike by the streams and the JSON endpoints."""

from rest_framework import serializers

from issues.models import Issue
from issues.serializers import AnyCaseChoiceField

MAX_DESCRIPTION = 20_000


class AIRequestSerializer(serializers.Serializer):
    issueId = serializers.RegexField(
        r"^[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*$",
        max_length=32,
        error_messages={"invalid": "An issue key looks like ISSUE-123."},
    )
    issueType = AnyCaseChoiceField(choices=Issue.Type.choices, required=False)
    currentDescription = serializers.CharField(
        max_length=MAX_DESCRIPTION, required=False, allow_blank=True, trim_whitespace=False
    )
    priority = AnyCaseChoiceField(choices=Issue.Priority.choices, required=False)

    def validate_issueId(self, key: str) -> str:
        return key.upper()
