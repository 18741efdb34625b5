"""Admin of issues."""

from django.contrib import admin

from ai_assist.admin import SuggestionInline
from issues.models import Issue


@admin.register(Issue)
class IssueAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "type", "priority", "story_points", "parent", "updated_at"]
    list_filter = ["type", "priority"]
    search_fields = ["key", "title", "description"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [SuggestionInline]
