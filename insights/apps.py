"""Insights: what the AI costs and how good it is, for staff."""

from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "AI insights"
