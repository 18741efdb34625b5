"""Reading a model's answer: prose streamed, the JSON block held back, results checked."""

import json

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
