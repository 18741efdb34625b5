"""The signed-in user's AI usage of the month, as a block for the pages."""

from typing import Any

from django import template
from django.urls import reverse

from ai_assist import usage

register = template.Library()


@register.inclusion_tag("ai_assist/usage.html", takes_context=True)
def month_usage(context: dict[str, Any]) -> dict[str, Any]:
    """Render the user's tokens, cost and budget this month (static/js/ai-usage.js keeps it
    up to date after each call)."""
    month = usage.month_usage(user=context["request"].user)
    return {
        "usage": month,
        "cost": usage.usd(month.cost_usd),
        "spent": month.remaining == 0,
        # The meter turns amber past three quarters of the budget, red past nine tenths.
        "low": (month.budget or 0) * 3 // 4,
        "high": (month.budget or 0) * 9 // 10,
        "url": reverse("usage"),
    }
