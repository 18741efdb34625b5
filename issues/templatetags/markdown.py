"""{{ text|markdown }}: markdown rendered and sanitised (issues/markdown.py)."""

from django import template
from django.utils.safestring import SafeString

from issues.markdown import markdown_html

register = template.Library()


@register.filter(name="markdown")
def markdown(text: str | None) -> SafeString:
    return markdown_html(text or "")
