"""Serializers of issues, shared by the issues API and the AI assistant's input."""

from typing import Any

from rest_framework import serializers

from issues.models import Issue


class AnyCaseChoiceField(serializers.ChoiceField):
    """A choice field that accepts its values in any letter case."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class IssueSerializer(serializers.ModelSerializer):
    type = AnyCaseChoiceField(choices=Issue.Type.choices, required=False)
    priority = AnyCaseChoiceField(choices=Issue.Priority.choices, required=False)
    storyPoints = serializers.IntegerField(
        source="story_points", min_value=0, max_value=1000, allow_null=True, required=False
    )
    parent = serializers.SlugRelatedField(
        slug_field="key", queryset=Issue.objects.all(), allow_null=True, required=False
    )
    key = serializers.RegexField(
        r"^[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*$",
        max_length=32,
        required=False,
        error_messages={"invalid": "A key looks like ISSUE-123."},
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
        others = Issue.objects.filter(key=key)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("An issue with this key already exists.")
        return key
