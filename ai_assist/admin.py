"""Admin of AI suggestions."""

from django.contrib import admin

from ai_assist.models import Suggestion


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["id", "issue_key", "kind", "status", "confidence", "model", "review_status"]
    list_filter = ["kind", "status", "review_status", "provider"]
    search_fields = ["issue_key", "text"]
