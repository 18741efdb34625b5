"""The issues app: the tracker's issues."""

from django.apps import AppConfig


class IssuesConfig(AppConfig):
    name = "issues"
