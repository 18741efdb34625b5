"""Filters for the insights page's figures."""

from decimal import Decimal

from django import template

from ai_assist import usage

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return "none" if value is None else f"{value:.0%}"


@register.filter
def usd(value: Decimal | float | None) -> str:
    return usage.usd(value)


@register.filter
def error(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"
