"""The AI assistant's part of the issue page (ai_assist/templates/issues/issue_detail.html)."""

from typing import Any

from django import template

from ai_assist import pages
from issues.models import Issue

register = template.Library()


@register.simple_tag(takes_context=True)
def issue_suggestions(context: dict[str, Any], issue: Issue) -> list:
    """The signed-in user's past suggestions on the issue, each with its review."""
    return pages.issue_suggestions(user=context["request"].user, issue=issue)
