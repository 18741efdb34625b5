"""The issues app: the tracker's issues."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IssuesConfig(AppConfig):
    name = "issues"

    def ready(self) -> None:
        from issues.similar import repair_sqlite_index

        post_migrate.connect(repair_sqlite_index, sender=self)
