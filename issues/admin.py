"""Admin of issues, with the API's rule: members edit, deleting takes the permission."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from issues import services
from issues.apis import can_delete_issues
from issues.models import Issue


@admin.register(Issue)
class IssueAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "type", "priority", "story_points", "parent", "updated_at"]
    list_filter = ["type", "priority"]
    search_fields = ["key", "title", "description"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Other issues and suggestions refer to the key: fixed once the issue exists.
        return [*self.readonly_fields, "key"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Issue, form: Any, change: bool) -> None:
        services.issue_save(issue=obj)  # the API's locks and checks

    # Every member of the tracker (a staff account, to use admin at all) reads, creates and
    # edits issues, as on the pages and in the API.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_delete_issues(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
