"""The suggestions' admin: the list a reviewer reads, the page, and accept/reject actions."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from model_bakery import baker

from ai_assist.models import Suggestion
from issues.models import Issue
from tests.ai_assist.suggestions import suggest

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/ai_assist/suggestion/"


@pytest.fixture
def issue() -> Issue:
    return baker.make(
        Issue,
        key="SHOP-7",
        title="Export orders as CSV",
        description="Managers export the order list as a CSV file. The export uses the filters.",
        priority="HIGH",
    )


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def act(client: Client, action: str, *suggestions: Suggestion) -> Any:
    data = {"action": action, "_selected_action": [s.pk for s in suggestions]}
    return client.post(CHANGELIST, data, follow=True)


def texts(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_list_shows_what_a_reviewer_needs(admin_client, user, issue):
    suggestion = suggest(user, "estimate")
    baker.make(Suggestion, kind="refine", issue_key="NEW-1", status="failed", model="gpt-4o-mini")

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="/admin/issues/issue/{issue.pk}/change/">SHOP-7</a>' in page
    assert "NEW-1 <small>(not stored)</small>" in page
    assert f"{suggestion.confidence:.0%}" in page
    for shown in ("Estimate story points", "Completed", "Failed", "Pending", "offline", "alice"):
        assert shown in page
    assert "0\xa0minutes ago" in page
    assert 'id="changelist-filter"' in page
    assert 'id="date-hierarchy-label"' in page
    actions = response.context["action_form"].fields["action"].choices
    assert {"accept", "reject"} <= {value for value, _ in actions}


def test_the_list_filters_and_searches(admin_client, user, issue):
    estimate = suggest(user, "estimate")
    refine = suggest(user, "refine")

    def shown(query: str) -> set[int]:
        response = admin_client.get(f"{CHANGELIST}?{query}")
        return {s.pk for s in response.context["cl"].result_list}

    assert shown("kind__exact=estimate") == {estimate.pk}
    assert shown("review_status__exact=pending&status__exact=completed") == {estimate.pk, refine.pk}
    assert shown("q=shop-7") == {estimate.pk, refine.pk}
    assert shown("q=acceptance+criteria") == {refine.pk}  # in the text
    assert shown("q=alice") == {estimate.pk, refine.pk}


def test_the_page_shows_the_text_readably_and_what_accepting_would_do(admin_client, user, issue):
    suggestion = suggest(user, "breakdown")
    response = admin_client.get(f"{CHANGELIST}{suggestion.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<pre style="white-space: pre-wrap;' in page
    assert "create these subtasks:" in page
    for task in suggestion.result["subtasks"]:
        assert task["title"] in page
    assert 'name="accept"' in page
    assert 'name="reject"' in page
    assert 'name="_save"' not in page  # read-only: only a review changes a suggestion


def test_accepting_applies_exactly_as_the_api_does(admin_client, api_client, user, issue):
    twin = baker.make(Issue, key="SHOP-8", title=issue.title, description=issue.description)
    by_admin = suggest(user, "refine")
    by_api = suggest(user, "refine", key="SHOP-8")

    response = act(admin_client, "accept", by_admin)
    assert api_client.post(f"/api/ai/suggestions/{by_api.pk}/accept").status_code == 200

    assert texts(response) == ["1 suggestion accepted."]
    issue.refresh_from_db()
    twin.refresh_from_db()
    assert issue.description == twin.description == by_admin.result["refinedDescription"]
    by_admin.refresh_from_db()
    assert (by_admin.review_status, by_admin.reviewed_by.username) == ("accepted", "sam")
    assert by_admin.reviewed_at is not None


def test_accepting_a_breakdown_creates_the_subtasks(admin_client, user, issue):
    suggestion = suggest(user, "breakdown")
    act(admin_client, "accept", suggestion)
    assert [c.title for c in issue.children.order_by("id")] == [
        task["title"] for task in suggestion.result["subtasks"]
    ]


def test_a_breakdown_its_children_already_cover_shows_and_creates_nothing(
    admin_client, user, issue
):
    act(admin_client, "accept", suggest(user, "breakdown"))
    children = issue.children.count()
    covered = suggest(user, "breakdown")
    assert covered.result["subtasks"] == []

    page = admin_client.get(f"{CHANGELIST}{covered.pk}/change/").content.decode()
    assert "create nothing: the issue&#x27;s children already cover the work" in page
    assert texts(act(admin_client, "accept", covered)) == ["1 suggestion accepted."]
    assert issue.children.count() == children


def test_rejecting_marks_them_rejected(admin_client, user, issue):
    suggestions = [suggest(user, "refine"), suggest(user, "estimate")]
    response = act(admin_client, "reject", *suggestions)
    assert texts(response) == ["2 suggestions rejected."]
    assert set(Suggestion.objects.values_list("review_status", flat=True)) == {"rejected"}
    assert Issue.objects.get(pk=issue.pk).description == issue.description


def test_what_cannot_be_reviewed_is_reported_and_left_alone(admin_client, user, issue):
    failed = baker.make(Suggestion, user=user, issue=issue, kind="estimate", status="failed")
    first = suggest(user, "estimate")
    second = suggest(user, "estimate")  # made before the first was applied

    response = act(admin_client, "accept", second, failed, first)

    assert texts(response) == [
        f"#{failed.pk}: Only a completed suggestion can be reviewed; this one is failed.",
        f"#{second.pk}: SHOP-7's story points changed after this suggestion was made; "
        "accepting it would overwrite that change. Ask for a new one.",
        "1 suggestion accepted.",
    ]
    assert Issue.objects.get(pk=issue.pk).story_points == first.result["storyPoints"]
    assert Suggestion.objects.get(pk=second.pk).review_status == "pending"
    assert Suggestion.objects.get(pk=failed.pk).review_status == "pending"


def test_the_buttons_on_the_page_review_it(admin_client, user, issue):
    suggestion = suggest(user, "estimate")
    response = admin_client.post(
        f"{CHANGELIST}{suggestion.pk}/review/", {"accept": ""}, follow=True
    )
    assert texts(response) == ["1 suggestion accepted."]
    assert Issue.objects.get(pk=issue.pk).story_points == suggestion.result["storyPoints"]
    assert 'name="accept"' not in response.content.decode()  # reviewed: no buttons any more

    again = admin_client.post(f"{CHANGELIST}{suggestion.pk}/review/", {"reject": ""}, follow=True)
    assert texts(again) == [f"#{suggestion.pk}: This suggestion was already accepted."]


def test_reviewing_takes_the_permission_to_change_suggestions(user, issue):
    viewer = baker.make("auth.User", username="vic", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_suggestion"))
    client = Client()
    client.force_login(viewer)
    suggestion = suggest(user, "estimate")

    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # no action is offered
    act(client, "accept", suggestion)
    assert client.post(f"{CHANGELIST}{suggestion.pk}/review/", {"accept": ""}).status_code == 403
    assert Suggestion.objects.get(pk=suggestion.pk).review_status == "pending"
    assert (
        'name="accept"' not in client.get(f"{CHANGELIST}{suggestion.pk}/change/").content.decode()
    )


def test_suggestions_cannot_be_added_by_hand(admin_client):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_the_issue_page_shows_its_suggestions_inline(admin_client, user, issue):
    suggestions = [suggest(user, "refine"), suggest(user, "estimate")]
    response = admin_client.get(f"/admin/issues/issue/{issue.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Refine description" in page
    assert "Estimate story points" in page
    for suggestion in suggestions:
        assert f"/admin/ai_assist/suggestion/{suggestion.pk}/change/" in page
    # The inline only shows them: a suggestion is not added or edited from the issue.
    assert 'name="suggestions-MAX_NUM_FORMS" value="0"' in page
    assert 'name="suggestions-0-DELETE"' not in page


def test_an_estimate_shows_the_past_issues_it_rests_on_as_links(admin_client, user, issue):
    from tests.issues.history import make_history

    history = make_history()
    suggestion = suggest(user, "estimate")
    assert suggestion.metadata["similarIssues"][0]["key"] == "SHOP-2"

    page = admin_client.get(f"{CHANGELIST}{suggestion.pk}/change/").content.decode()

    assert "The estimate rests on" in page
    link = f'<a href="/admin/issues/issue/{history["SHOP-2"].pk}/change/">SHOP-2</a>'
    assert f"<li>{link} Export the order list to CSV (5 points," in page


def review(client: Client, suggestion: Suggestion, data: dict[str, Any]) -> Any:
    return client.post(f"{CHANGELIST}{suggestion.pk}/review/", data, follow=True)


def test_the_page_shows_a_refinement_as_a_word_diff_and_accepts_the_edited_text(
    admin_client, user, issue
):
    suggestion = suggest(user, "refine")
    page = admin_client.get(f"{CHANGELIST}{suggestion.pk}/change/").content.decode()
    assert "<ins>" in page  # underlined (and struck through for removals), not colour only
    assert '<span class="visually-hidden">[added: </span>' in page
    assert 'name="refinedDescription"' in page

    response = review(
        admin_client, suggestion, {"accept": "", "refinedDescription": "Line one.\r\nLine two."}
    )

    assert texts(response) == ["1 suggestion accepted."]
    assert Issue.objects.get(pk=issue.pk).description == "Line one.\nLine two."
    suggestion.refresh_from_db()
    assert (suggestion.applied, suggestion.edited) == (
        {"refinedDescription": "Line one.\nLine two."},
        True,
    )
    assert 'name="revert"' in response.content.decode()  # undo is offered now


def test_a_partial_edited_breakdown_from_admin_then_undo(admin_client, user, issue):
    suggestion = suggest(user, "breakdown")
    proposed = suggestion.result["subtasks"]
    assert len(proposed) >= 2
    data = {
        "accept": "",
        "create": ["1"],
        **{f"title-{n}": task["title"] for n, task in enumerate(proposed)},
        **{f"description-{n}": task["description"] for n, task in enumerate(proposed)},
        **{f"storyPoints-{n}": "" for n in range(len(proposed))},
        "title-1": "Edited in admin",
        "storyPoints-1": "8",
    }

    response = review(admin_client, suggestion, data)

    assert texts(response) == ["1 suggestion accepted."]
    assert list(issue.children.values_list("title", "story_points")) == [("Edited in admin", 8)]
    suggestion.refresh_from_db()
    assert suggestion.edited is True

    undone = review(admin_client, suggestion, {"revert": ""})

    assert texts(undone) == ["1 suggestion undone."]
    assert not issue.children.exists()
    assert Suggestion.objects.get(pk=suggestion.pk).review_status == "reverted"
    assert texts(review(admin_client, suggestion, {"revert": ""})) == [
        f"#{suggestion.pk}: Only an accepted suggestion can be undone; this one is reverted."
    ]


def test_bad_values_in_admin_are_reported_and_change_nothing(admin_client, user, issue):
    estimate = suggest(user, "estimate")
    response = review(admin_client, estimate, {"accept": "", "storyPoints": "5000"})
    [message] = texts(response)
    assert message.startswith(f"#{estimate.pk}: nothing was applied. storyPoints:")
    breakdown = suggest(user, "breakdown")
    response = review(admin_client, breakdown, {"accept": "", "title-0": "x"})  # none ticked
    assert "nothing was applied" in texts(response)[0]
    assert Issue.objects.get(pk=issue.pk).story_points is None
    assert not issue.children.exists()


def test_undo_in_admin_after_a_later_change_names_it(admin_client, user, issue):
    from issues.services import issue_update

    suggestion = suggest(user, "estimate")
    act(admin_client, "accept", suggestion)
    issue_update(issue=Issue.objects.get(pk=issue.pk), story_points=21)

    response = act(admin_client, "revert", suggestion)

    assert texts(response) == [
        f"#{suggestion.pk}: This suggestion cannot be undone: SHOP-7's story points changed "
        "since it was accepted. Undoing it would lose that change."
    ]
    assert Issue.objects.get(pk=issue.pk).story_points == 21


def test_markdown_in_admin_is_rendered_and_sanitised(admin_client, user, fake, settings):
    from tests.issues.test_markdown import HOSTILE, executable

    settings.AI_PROVIDER = "openai"  # the fake model answers with the hostile text
    settings.OPENAI_BASE_URL = fake.base_url
    fake.configure(reply=HOSTILE)
    baker.make(Issue, key="SHOP-7", title="Hostile", description=HOSTILE)
    suggestion = suggest(user, "refine")

    page = admin_client.get(f"{CHANGELIST}{suggestion.pk}/change/").content.decode()

    assert "<strong>bold</strong>" in page  # rendered
    assert executable(page) == []
