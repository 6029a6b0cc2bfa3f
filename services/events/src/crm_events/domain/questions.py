"""An event's registration questions and the answers a registrant gives to them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_QUESTIONS = 20
MAX_OPTIONS = 30
MAX_TEXT_ANSWER = 2000
QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class QuestionKind(StrEnum):
    """What a question asks for: free text, one of its options, yes or no, or a consent the
    registrant may tick (never required: consent given because a form demanded it is not
    freely given)."""

    TEXT = "text"
    CHOICE = "choice"
    YES_NO = "yes_no"
    CONSENT = "consent"


class ConsentPurpose(StrEnum):
    """What a consent question asks for; the candidates service's purposes of the same name.
    Each is confirmed by the registrant through a link mailed to them (double opt-in)."""

    MARKETING = "marketing"
    TALENT_COMMUNITY = "talent_community"


class RegistrationQuestion(BaseModel):
    """One question of an event's registration form."""

    model_config = ConfigDict(frozen=True)

    id: str
    label: str
    kind: QuestionKind
    required: bool = False
    options: list[str] = Field(default_factory=list)
    purpose: ConsentPurpose | None = None
    help: str | None = None


class Answer(BaseModel):
    """A registrant's answer to one question, with the question's wording as it was asked
    (the event's questions may be edited later; a consent's evidence is what was shown)."""

    model_config = ConfigDict(frozen=True)

    question_id: str
    label: str
    kind: QuestionKind
    value: str | bool
    purpose: ConsentPurpose | None = None


class QuestionsInvalid(ValueError):
    """An event's questions that cannot be asked (a 422): which question and why."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(f"questions[{index}]: {detail}")
        self.index = index
        self.detail = detail


class AnswerInvalid(ValueError):
    """A registrant's answer that is missing or does not fit its question (a 422)."""

    def __init__(self, question_id: str, detail: str) -> None:
        super().__init__(f"answers.{question_id}: {detail}")
        self.question_id = question_id
        self.detail = detail


def check_questions(questions: list[RegistrationQuestion]) -> None:
    """Refuses (`QuestionsInvalid`) questions that cannot be asked as given."""
    if len(questions) > MAX_QUESTIONS:
        raise QuestionsInvalid(MAX_QUESTIONS, f"at most {MAX_QUESTIONS} questions")
    seen: set[str] = set()
    for index, question in enumerate(questions):
        if not QUESTION_ID.match(question.id):
            raise QuestionsInvalid(
                index,
                "`id` is 1 to 40 lower-case letters, digits and underscores, starting with a "
                "letter (it names the answer: `answers.<id>`)",
            )
        if question.id in seen:
            raise QuestionsInvalid(index, f"the id {question.id!r} is used twice")
        seen.add(question.id)
        _check_kind(index, question)


def _check_kind(index: int, question: RegistrationQuestion) -> None:
    if question.kind is QuestionKind.CHOICE:
        if not 2 <= len(question.options) <= MAX_OPTIONS:
            raise QuestionsInvalid(index, f"a choice has 2 to {MAX_OPTIONS} options")
        if len({option.casefold() for option in question.options}) != len(question.options):
            raise QuestionsInvalid(index, "a choice's options differ from each other")
    elif question.options:
        raise QuestionsInvalid(index, "only a `choice` question has options")
    if question.kind is QuestionKind.CONSENT:
        if question.purpose is None:
            raise QuestionsInvalid(
                index, "a consent question names its `purpose` (marketing, talent_community)"
            )
        if question.required:
            raise QuestionsInvalid(
                index,
                "a consent question cannot be required: consent a form demands is not given freely",
            )
    elif question.purpose is not None:
        raise QuestionsInvalid(index, "only a `consent` question has a purpose")


def answers_to(questions: list[RegistrationQuestion], given: dict[str, Any]) -> list[Answer]:
    """The answers `given` (question id -> value) checked against `questions`, in the
    questions' order; `AnswerInvalid` names the first that is missing, unknown or does not
    fit. An unticked consent and an unanswered optional question are left out."""
    known = {question.id for question in questions}
    for question_id in given:
        if question_id not in known:
            raise AnswerInvalid(question_id, "the event asks no such question")
    answers: list[Answer] = []
    for question in questions:
        value = _answer_value(question, given.get(question.id))
        if value is None or value == "" or (question.kind is QuestionKind.CONSENT and not value):
            if question.required:
                raise AnswerInvalid(question.id, f"{question.label!r} needs an answer")
            continue
        answers.append(
            Answer(
                question_id=question.id,
                label=question.label,
                kind=question.kind,
                value=value,
                purpose=question.purpose,
            )
        )
    return answers


def _answer_value(question: RegistrationQuestion, raw: Any) -> str | bool | None:
    if raw is None:
        return None
    if question.kind in (QuestionKind.YES_NO, QuestionKind.CONSENT):
        # A form posts "yes"/"no" or "on" for a ticked box; JSON clients send booleans.
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().casefold()
        if text in ("yes", "true", "on", "1"):
            return True
        if text in ("no", "false", "0"):
            return False
        if text == "":
            return None
        raise AnswerInvalid(question.id, "the answer is yes or no (true or false)")
    if not isinstance(raw, str):
        raise AnswerInvalid(question.id, "the answer is text")
    text = " ".join(raw.split()) if question.kind is QuestionKind.CHOICE else raw.strip()
    if question.kind is QuestionKind.CHOICE and text:
        for option in question.options:
            if option.casefold() == text.casefold():
                return option
        raise AnswerInvalid(question.id, f"the answer is one of: {', '.join(question.options)}")
    if len(text) > MAX_TEXT_ANSWER:
        raise AnswerInvalid(question.id, f"at most {MAX_TEXT_ANSWER} characters")
    return text


def consents_given(answers: list[Answer]) -> list[ConsentPurpose]:
    """The consent purposes the registrant ticked, each once, in the form's order."""
    purposes: list[ConsentPurpose] = []
    for answer in answers:
        if answer.purpose is not None and answer.value is True and answer.purpose not in purposes:
            purposes.append(answer.purpose)
    return purposes
