"""The project's own app: what belongs to the whole service rather than to issues or AI."""

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (it adjusts Django's checks as it loads)
