"""Forms of the web pages: create and edit an issue."""

from typing import Any

from django import forms

from issues.models import Issue


class IssueKeyField(forms.ModelChoiceField):
    """An issue chosen by its key, typed in any letter case."""

    def to_python(self, value: Any) -> Issue | None:
        return super().to_python(value.strip().upper() if isinstance(value, str) else value)


class IssueForm(forms.ModelForm):
    """An issue's fields; the parent is typed as its key. The key is set only on creation."""

    parent = IssueKeyField(
        queryset=Issue.objects.all(),
        to_field_name="key",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. ISSUE-12", "autocapitalize": "off"}),
        help_text="The key of the parent issue (an epic or a story), if any.",
        error_messages={"invalid_choice": "No issue has this key."},
    )

    class Meta:
        model = Issue
        fields = ["key", "type", "title", "priority", "story_points", "parent", "description"]
        labels = {"story_points": "Story points"}
        help_texts = {"key": "Leave empty to take the next free key, like ISSUE-124."}
        widgets = {
            "key": forms.TextInput(attrs={"placeholder": "ISSUE-124", "autocapitalize": "off"}),
            "description": forms.Textarea(attrs={"rows": 10}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].required = False
        if self.instance.pk:
            del self.fields["key"]  # keys are stable: other issues and suggestions refer to them
            if self.instance.parent:
                self.initial["parent"] = self.instance.parent.key
            self.fields["parent"].queryset = Issue.objects.exclude(pk=self.instance.pk)

    def clean_key(self) -> str:
        return self.cleaned_data["key"].strip().upper()
