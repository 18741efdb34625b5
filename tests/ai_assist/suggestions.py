"""Make suggestions in tests the way the API does: started, then run by the offline engine."""

from typing import Any

from ai_assist import services
from ai_assist.models import Suggestion


def suggest(user: Any, kind: str, key: str = "SHOP-7", **data: Any) -> Suggestion:
    """Start a suggestion and run it to its end; return it as stored, completed."""
    suggestion = services.suggestion_start(user=user, kind=kind, data={"issueId": key, **data})
    services.suggestion_answer(suggestion=suggestion)
    suggestion.refresh_from_db()
    assert suggestion.status == Suggestion.Status.COMPLETED
    return suggestion
