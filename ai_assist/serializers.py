"""The input of the three AI operations, validated alike by the streams and the JSON endpoints,
and of accepting a suggestion with edits."""

from typing import Any

from rest_framework import serializers

from ai_assist.models import Suggestion
from ai_assist.parsing import MAX_SUBTASKS
from issues.models import KEY_INPUT_PATTERN, Issue
from issues.models import MAX_DESCRIPTION as ISSUE_DESCRIPTION
from issues.serializers import AnyCaseChoiceField, IssueSerializer

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


class SubtaskInputSerializer(IssueSerializer):
    """A subtask to create, checked by the rules of any issue."""

    class Meta(IssueSerializer.Meta):
        fields = ["title", "description", "storyPoints"]


_POINTS = IssueSerializer._declared_fields["storyPoints"]
# The one field of the body each kind takes.
ACCEPT_FIELDS = {
    Suggestion.Kind.REFINE: "refinedDescription",
    Suggestion.Kind.ESTIMATE: "storyPoints",
    Suggestion.Kind.BREAKDOWN: "subtasks",
}


class AcceptSerializer(serializers.Serializer):
    """What accepting applies instead of the proposal: refine takes `refinedDescription`,
    estimate `storyPoints`, breakdown `subtasks` (exactly these are created). Each value is
    checked as an issue's; the suggestion's kind goes in the context."""

    refinedDescription = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=ISSUE_DESCRIPTION,
        help_text="Refine: the description to set.",
    )
    storyPoints = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=_POINTS.min_value,
        max_value=_POINTS.max_value,
        help_text="Estimate: the story points to set.",
    )
    # A ListField, not many=True: its own errors come as a list ("This list may not be
    # empty."), each bad item's by its index.
    subtasks = serializers.ListField(
        child=SubtaskInputSerializer(),
        required=False,
        allow_empty=False,
        max_length=MAX_SUBTASKS,
        help_text="Breakdown: the subtasks to create, in order.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        kind = self.context["kind"]
        mine = ACCEPT_FIELDS[kind]
        given = self.initial_data.keys() if hasattr(self.initial_data, "keys") else []
        others = {
            name: f"Only {mine} can be given for this {kind} suggestion."
            for name in given
            if name != mine
        }
        if others:
            raise serializers.ValidationError(others)
        if mine not in data:
            return {}  # no body: the proposal as it is
        if mine == "subtasks":
            return {
                "subtasks": [
                    {
                        "title": task["title"],
                        "description": task.get("description", ""),
                        "storyPoints": task.get("story_points"),
                    }
                    for task in data["subtasks"]
                ]
            }
        return {mine: data[mine]}
