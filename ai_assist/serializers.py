"""The input of the three AI operations, validated alike by the streams and the JSON endpoints."""

from rest_framework import serializers

from issues.models import KEY_INPUT_PATTERN, Issue
from issues.serializers import AnyCaseChoiceField

MAX_DESCRIPTION = 20_000


class AIRequestSerializer(serializers.Serializer):
    issueId = serializers.RegexField(
        KEY_INPUT_PATTERN,
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
