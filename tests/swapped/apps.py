"""A tests-only app: a swapped user model, and our tables under names Django did not choose."""

from django.apps import AppConfig


class SwappedConfig(AppConfig):
    name = "tests.swapped"
    label = "swapped"

    def ready(self) -> None:
        from rest_framework.authtoken.models import Token, TokenProxy

        from ai_assist.models import Suggestion, TokenBudget
        from issues.models import Issue

        # As Meta.db_table and db_column would name them. The tests create their tables from
        # the models (pytest --no-migrations), so the database has these names and no other.
        tables = {
            Issue: "tracker_issue",
            Suggestion: "ai_suggestions",
            TokenBudget: "ai_budgets",
            Token: "api_keys",
            TokenProxy: "api_keys",
        }
        for model, name in tables.items():
            model._meta.db_table = name
        for model, field, name in [
            (Suggestion, "user", "owner_no"),
            (Suggestion, "id", "suggestion_no"),
            (Suggestion, "created_at", "started"),
            (Suggestion, "text", "body"),
            (Suggestion, "status", "state"),
            (Suggestion, "worker", "process"),
            (Suggestion, "followed_until", "watched_until"),
            (Suggestion, "cancel_requested", "stop_asked"),
            (TokenBudget, "user", "member"),
            (Token, "user", "holder"),
            (Token, "key", "secret"),
            (Issue, "key", "ref"),
        ]:
            column = model._meta.get_field(field)
            column.db_column = column.column = name
