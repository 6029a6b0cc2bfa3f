"""An event's registration questions and the answers checked against them."""

from __future__ import annotations

import pytest

from crm_events.domain.questions import (
    AnswerInvalid,
    ConsentPurpose,
    QuestionKind,
    QuestionsInvalid,
    RegistrationQuestion,
    answers_to,
    check_questions,
    consents_given,
)


def question(**fields: object) -> RegistrationQuestion:
    return RegistrationQuestion.model_validate({"id": "q", "label": "Question?"} | fields)


ROLE = question(
    id="role", label="Which team?", kind="choice", required=True, options=["Backend", "Data"]
)
PARKING = question(id="parking", label="Do you need parking?", kind="yes_no")
NOTE = question(id="note", label="Anything we should know?", kind="text")
NEWS = question(id="news", label="Send me job news", kind="consent", purpose="marketing")
FORM = [ROLE, PARKING, NOTE, NEWS]


def test_a_form_of_every_kind_is_accepted() -> None:
    check_questions(FORM)


@pytest.mark.parametrize(
    ("questions", "index", "detail"),
    [
        ([question(id="Role!", kind="text")], 0, "lower-case letters"),
        ([NOTE, question(id="note", kind="yes_no")], 1, "used twice"),
        ([question(kind="choice", options=["Only"])], 0, "2 to 30 options"),
        ([question(kind="choice", options=["Data", "data"])], 0, "differ"),
        ([question(kind="text", options=["x", "y"])], 0, "only a `choice`"),
        ([question(kind="consent")], 0, "names its `purpose`"),
        ([question(kind="consent", purpose="marketing", required=True)], 0, "cannot be required"),
        ([question(kind="yes_no", purpose="marketing")], 0, "only a `consent`"),
        ([question(id=f"q{i}", kind="text") for i in range(21)], 20, "at most 20"),
    ],
)
def test_questions_that_cannot_be_asked_are_refused_by_position(
    questions: list[RegistrationQuestion], index: int, detail: str
) -> None:
    with pytest.raises(QuestionsInvalid) as refused:
        check_questions(questions)
    assert refused.value.index == index
    assert detail in refused.value.detail


def test_answers_come_back_in_the_forms_order_with_the_wording_asked() -> None:
    answers = answers_to(
        FORM, {"news": "on", "note": "  Vegetarian  ", "parking": "no", "role": " data "}
    )
    assert [(a.question_id, a.value) for a in answers] == [
        ("role", "Data"),
        ("parking", False),
        ("note", "Vegetarian"),
        ("news", True),
    ]
    assert answers[0].label == "Which team?"
    assert answers[3].purpose is ConsentPurpose.MARKETING
    assert consents_given(answers) == [ConsentPurpose.MARKETING]


def test_an_unticked_consent_and_an_unanswered_optional_question_are_no_answers() -> None:
    answers = answers_to(FORM, {"role": "Backend", "news": False, "note": ""})
    assert [a.question_id for a in answers] == ["role"]
    assert consents_given(answers) == []


@pytest.mark.parametrize(
    ("given", "question_id", "detail"),
    [
        ({}, "role", "needs an answer"),
        ({"role": "   "}, "role", "needs an answer"),
        ({"role": "Frontend"}, "role", "one of: Backend, Data"),
        ({"role": "Data", "parking": "maybe"}, "parking", "yes or no"),
        ({"role": "Data", "note": True}, "note", "is text"),
        ({"role": "Data", "note": "x" * 2001}, "note", "2000"),
        ({"role": "Data", "shoe_size": "44"}, "shoe_size", "no such question"),
    ],
)
def test_answers_that_do_not_fit_name_their_question(
    given: dict[str, object], question_id: str, detail: str
) -> None:
    with pytest.raises(AnswerInvalid) as refused:
        answers_to(FORM, given)
    assert refused.value.question_id == question_id
    assert detail in refused.value.detail


def test_a_required_yes_no_question_takes_no_for_an_answer() -> None:
    required = question(id="adult", label="Are you 18 or over?", kind="yes_no", required=True)
    [answer] = answers_to([required], {"adult": False})
    assert answer.value is False
    assert answer.kind is QuestionKind.YES_NO
    with pytest.raises(AnswerInvalid):
        answers_to([required], {})
