"""The suggestion's raw insert and update store what the ORM would, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import pytest
from model_bakery import baker

from ai_assist import rows
from ai_assist.models import Suggestion

pytestmark = pytest.mark.django_db


def test_an_inserted_suggestion_reads_back_as_the_orm_stores_it():
    user = baker.make("auth.User")
    issue = baker.make("issues.Issue", key="SHOP-7")
    context = {"key": "SHOP-7", "description": 'Ünïcode, "quotes" and\nlines', "children": []}
    suggestion = rows.insert(
        Suggestion(
            kind=Suggestion.Kind.REFINE,
            issue_key="SHOP-7",
            issue=issue,
            user=user,
            request={"issueId": "SHOP-7"},
            context=context,
            provider="openai",
            model="gpt-4o-mini",
        )
    )

    stored = Suggestion.objects.get()
    assert stored.pk == suggestion.pk
    assert (stored.issue, stored.user, stored.context) == (issue, user, context)
    assert stored.request == {"issueId": "SHOP-7"}
    assert stored.status == Suggestion.Status.STREAMING  # the model's defaults
    assert stored.review_status == Suggestion.ReviewStatus.PENDING
    assert stored.metadata == {} and stored.result is None
    assert stored.created_at == suggestion.created_at is not None  # auto_now_add
    assert not suggestion._state.adding  # a save() now updates rather than inserts


def test_an_update_sets_only_the_fields_given():
    first, second = baker.make(Suggestion, _quantity=2, text="", metadata={})
    finished = datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=UTC)
    rows.update(
        first.pk,
        {
            "status": Suggestion.Status.COMPLETED,
            "text": "Done.",
            "result": {"storyPoints": 5, "notes": ["a", None]},
            "metadata": {"suggestedPoints": 5},
            "confidence": 0.82,
            "total_tokens": 233,
            "finished_at": finished,
        },
    )

    first.refresh_from_db()
    assert (first.status, first.text, first.confidence) == ("completed", "Done.", 0.82)
    assert first.result == {"storyPoints": 5, "notes": ["a", None]}
    assert first.metadata == {"suggestedPoints": 5}
    assert (first.total_tokens, first.finished_at) == (233, finished)
    second.refresh_from_db()
    assert (second.status, second.text, second.metadata) == ("streaming", "", {})
