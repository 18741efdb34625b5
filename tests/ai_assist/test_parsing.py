"""Reading a model's answer: prose streamed, the JSON block held back, results checked."""

import contextlib
import json
import time

import pytest

from ai_assist.parsing import AnswerError, ProseSplitter, answer_parse

ANSWER = 'Refined text with `code`.\n\n## Acceptance criteria\n- works\n\n```json\n{"a": 1}\n```\n'


def split(text: str, size: int) -> tuple[list[str], str, str]:
    splitter = ProseSplitter()
    shown = [splitter.feed(text[i : i + size]) for i in range(0, len(text), size)]
    prose, block = splitter.finish()
    return shown, prose, block


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 1000])
def test_prose_is_released_and_the_json_block_held_back_however_the_answer_is_cut(size):
    shown, prose, block = split(ANSWER, size)
    assert "".join(shown) == prose == ANSWER.split("```json")[0]
    assert json.loads(block) == {"a": 1}


def test_other_code_fences_are_prose():
    answer = "Run:\n```sh\nmake\n```\nDone.\n```json\n{}\n```"
    shown, prose, block = split(answer, 4)
    assert "".join(shown) == prose == "Run:\n```sh\nmake\n```\nDone.\n"
    assert block.strip() == "{}"


def test_a_bare_fence_opening_an_object_is_the_block():
    _, prose, block = split('Prose.\n```\n{"storyPoints": 3}\n```', 3)
    assert prose == "Prose.\n"
    assert json.loads(block) == {"storyPoints": 3}


def test_prose_without_a_block_is_all_released():
    _, prose, block = split("Just prose, with a tick ` and two ``.", 2)
    assert prose == "Just prose, with a tick ` and two ``."
    assert block == ""


def test_text_after_the_block_is_dropped():
    _, prose, block = split('P\n```json\n{"x": 2}\n```\nignored', 5)
    assert prose == "P\n"
    assert json.loads(block) == {"x": 2}


CONTEXT = {"description": "Old text.", "storyPoints": None, "children": []}


def test_estimate_blends_the_model_confidence_with_checks():
    good = answer_parse(
        kind="estimate",
        prose="Because.",
        block='{"storyPoints": 5, "confidence": 0.9}',
        context=CONTEXT,
    )
    off_scale = answer_parse(
        kind="estimate",
        prose="Because.",
        block='{"storyPoints": 4, "confidence": 0.9}',
        context=CONTEXT,
    )
    assert good.metadata == {"suggestedPoints": 5, "similarIssues": []}
    assert off_scale.metadata == {"suggestedPoints": 3, "similarIssues": []}  # snapped
    assert off_scale.confidence < good.confidence <= 1


def test_estimate_falls_back_to_the_prose():
    answer = answer_parse(
        kind="estimate", prose="I'd say **8 story points**.", block="", context=CONTEXT
    )
    assert answer.metadata == {"suggestedPoints": 8, "similarIssues": []}
    assert answer.confidence < 0.8


def test_estimate_without_any_number_is_an_error():
    with pytest.raises(AnswerError, match="no story point"):
        answer_parse(kind="estimate", prose="Hard to say.", block="{broken", context=CONTEXT)


def test_refine_counts_improvements_and_checks_the_text_changed():
    changed = answer_parse(
        kind="refine",
        prose="New text.\n\n## Acceptance criteria\n- x",
        block='{"improvements": ["a", "b"], "confidence": 0.8}',
        context=CONTEXT,
    )
    unchanged = answer_parse(kind="refine", prose="Old text.", block="{}", context=CONTEXT)
    assert changed.metadata["improvementsCount"] == 2
    assert changed.metadata["refinedDescription"].startswith("New text.")
    assert unchanged.confidence < changed.confidence


def test_breakdown_checks_that_the_parts_add_up():
    block = json.dumps(
        {
            "subtasks": [
                {"title": "A", "description": "a", "storyPoints": 3},
                {"title": "B", "description": "b", "storyPoints": 5},
            ],
            "complexity": "low",
            "confidence": 0.8,
        }
    )
    fits = answer_parse(
        kind="breakdown", prose="Plan.", block=block, context=CONTEXT | {"storyPoints": 8}
    )
    too_big = answer_parse(
        kind="breakdown", prose="Plan.", block=block, context=CONTEXT | {"storyPoints": 2}
    )
    assert fits.metadata["subtasksCount"] == 2
    assert fits.metadata["totalPoints"] == 8
    assert fits.metadata["complexity"] == "low"
    assert fits.metadata["subtasks"][1] == {"title": "B", "description": "b", "storyPoints": 5}
    assert too_big.confidence < fits.confidence


def test_breakdown_falls_back_to_the_prose_list():
    answer = answer_parse(
        kind="breakdown",
        prose="Plan:\n1. Design it\n2. Build it\n- Test it",
        block="",
        context=CONTEXT,
    )
    assert [task["title"] for task in answer.metadata["subtasks"]] == [
        "Design it",
        "Build it",
        "Test it",
    ]


def test_breakdown_without_subtasks_is_an_error():
    with pytest.raises(AnswerError, match="no subtasks"):
        answer_parse(
            kind="breakdown", prose="Nothing to do.", block='{"subtasks": []}', context=CONTEXT
        )


@pytest.mark.parametrize(
    "prose",
    [
        # Each of these took the list-item pattern 4.5 to 20 s before, on the event loop.
        "- x" + " " * 20_000 + "y",
        "\n" * 20_000,
        " \n" * 10_000,
        "- a" + " " * 20_000 + "b\n",
        ("7 " + " " * 50) * 4_000 + "points",
        "`" * 200_000,
    ],
)
def test_no_answer_makes_the_parser_backtrack(prose):
    # Linear work takes milliseconds here; the patterns that backtracked took seconds.
    started = time.perf_counter()
    for kind in ("breakdown", "estimate"):
        with contextlib.suppress(AnswerError):  # an answer or its error: either, at once
            answer_parse(kind=kind, prose=prose, block="", context=CONTEXT)
    split(prose, 4096)
    assert time.perf_counter() - started < 2


def test_a_block_nested_too_deeply_counts_as_no_block():
    answer = answer_parse(
        kind="estimate", prose="I'd say 3 points.", block="[" * 100_000, context=CONTEXT
    )
    assert answer.metadata["suggestedPoints"] == 3


def test_subtasks_are_bounded_and_the_complexity_follows_their_points():
    subtasks = [
        {"title": f"  Step\t{n}\n", "description": "d" * 5000, "storyPoints": 2} for n in range(20)
    ]
    answer = answer_parse(
        kind="breakdown",
        prose="Plan.",
        block=json.dumps({"subtasks": subtasks, "complexity": "low", "confidence": 1}),
        context=CONTEXT,
    )
    assert [task["title"] for task in answer.result["subtasks"]] == [f"Step {n}" for n in range(12)]
    assert {len(task["description"]) for task in answer.result["subtasks"]} == {2000}
    assert answer.result["totalPoints"] == 24
    assert answer.result["complexity"] == "high"


def test_an_offline_answer_gets_its_own_figure_at_most_lowered_by_the_checks():
    block = {"storyPoints": 5, "confidence": 0.45, "engine": "offline"}
    offline = answer_parse(
        kind="estimate", prose="Because.", block=json.dumps(block), context=CONTEXT
    )
    claims_more = answer_parse(
        kind="estimate",
        prose="Because.",
        block=json.dumps(block | {"confidence": 0.95}),
        context=CONTEXT,
    )
    model = answer_parse(
        kind="estimate",
        prose="Because.",
        block=json.dumps(block | {"engine": "gpt"}),
        context=CONTEXT,
    )
    assert offline.confidence == 0.45  # every check passed: its own figure, no more
    assert claims_more.confidence == 0.6  # an offline answer never gets more than 0.6
    assert model.confidence == round(0.4 * 0.45 + 0.6, 2)  # a model's: blended as before


def test_the_offline_engine_line_is_shown_but_not_applied():
    note = "_Offline refinement: a rule-based reading._"
    answer = answer_parse(
        kind="refine",
        prose=f"## Goal\n\nNew.\n\n{note}",
        block=json.dumps(
            {"improvements": ["a"], "confidence": 0.5, "engine": "offline", "note": note}
        ),
        context=CONTEXT,
    )
    assert answer.metadata["refinedDescription"] == "## Goal\n\nNew."


def test_an_empty_breakdown_of_an_issue_with_children_is_complete():
    children = [{"key": "SHOP-2", "type": "SUBTASK", "title": "Build it", "storyPoints": 3}]
    answer = answer_parse(
        kind="breakdown",
        prose="Its children already cover it:\n\n- SHOP-2 Build it",
        block='{"subtasks": [], "complexity": "low", "confidence": 0.5}',
        context=CONTEXT | {"children": children},
    )
    assert answer.metadata == {
        "subtasksCount": 0,
        "subtasks": [],
        "totalPoints": 0,
        "complexity": "low",
    }
    assert 0 < answer.confidence <= 1
