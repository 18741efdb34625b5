"""Serializers of issues, shared by the issues API and the AI assistant's input."""

from typing import Any

from rest_framework import serializers

from issues.models import KEY_INPUT_PATTERN, Issue


class AnyCaseChoiceField(serializers.ChoiceField):
    """A choice field that accepts its values in any letter case."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class IssueKeyField(serializers.SlugRelatedField):
    """An issue named by its key, in any letter case."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class IssueSerializer(serializers.ModelSerializer):
    type = AnyCaseChoiceField(choices=Issue.Type.choices, required=False)
    priority = AnyCaseChoiceField(choices=Issue.Priority.choices, required=False)
    storyPoints = serializers.IntegerField(
        source="story_points", min_value=0, max_value=1000, allow_null=True, required=False
    )
    parent = IssueKeyField(
        slug_field="key", queryset=Issue.objects.all(), allow_null=True, required=False
    )
    key = serializers.RegexField(
        KEY_INPUT_PATTERN,
        max_length=32,
        required=False,
        error_messages={"invalid": "A key looks like ISSUE-123 (at most nine digits)."},
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Issue
        fields = [
            "key",
            "type",
            "title",
            "description",
            "priority",
            "storyPoints",
            "parent",
            "createdAt",
            "updatedAt",
        ]

    def validate_key(self, key: str) -> str:
        key = key.upper()
        if self.instance is not None:
            # Other issues and suggestions refer to it: a key is fixed once the issue exists.
            if key != self.instance.key:
                raise serializers.ValidationError("The key of an issue cannot change.")
            return key
        if Issue.objects.filter(key=key).exists():
            raise serializers.ValidationError("An issue with this key already exists.")
        return key

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None:
            data.pop("key", None)  # the same key: nothing to change
        return data
