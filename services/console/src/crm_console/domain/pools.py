"""Talent pools as the console shows them: a board of stages and cards, the stages typed when
a pool is made, and the actions a person takes on a selection of its members."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_console.domain.candidates import PLACEMENT_SEPARATOR

# Members a board shows at once (the API's largest page: one call per board).
BOARD_PAGE = 200
# Candidates one bulk action takes (the API's limit for adding to a pool and tagging).
MAX_SELECTION = 200
BULK_ACTIONS = {"add_to_pool": "Add to pool", "tag": "Add tags", "enrol": "Enrol in sequence"}
REFUSAL_REASONS = {
    "already_active": "enrolled already",
    "reentry_not_allowed": "may not enrol again",
    "reentry_too_soon": "enrolled too recently to enrol again",
    "unknown_candidate": "not known to campaigns yet",
}


def stages_from_text(text: str) -> list[str]:
    """Stages typed one per line or separated by commas, in order, blanks dropped."""
    return [" ".join(part.split()) for part in re.split(r"[\n,]", text) if part.strip()]


@dataclass(frozen=True)
class Card:
    candidate_id: str
    name: str
    detail: str
    stage: str


@dataclass(frozen=True)
class Column:
    stage: str
    # Members at the stage in the whole pool (the cards may be fewer: the board's page).
    count: int
    cards: list[Card] = field(default_factory=list)


def _card(member: Mapping[str, Any]) -> Card:
    person = member.get("candidate") or {}
    name = f"{person.get('first_name', '')} {person.get('last_name', '')}".strip()
    role = " · ".join(
        str(part) for part in (person.get("current_title"), person.get("current_company")) if part
    )
    return Card(
        candidate_id=str(member["candidate_id"]),
        name=name or "(erased candidate)",
        detail=role,
        stage=str(member["stage"]),
    )


def board_columns(
    pool: Mapping[str, Any], members: Sequence[Mapping[str, Any]], *, every_member: bool = False
) -> list[Column]:
    """One column per stage in the pool's order, its members' cards sorted by name; a member
    at a stage the pool no longer lists (renamed meanwhile) gets a column of its own.

    With `every_member` (the read holds the whole pool) a column counts its cards: the counts
    and the cards come from one read, so they add up to the members shown even while other
    moves land (the pool's `member_counts` is read alongside, a stage at a time, and may be
    from before or after one of them). A board of one page of a larger pool counts the whole
    pool from `member_counts`."""
    counts: Mapping[str, int] = pool.get("member_counts") or {}
    cards: dict[str, list[Card]] = {str(stage): [] for stage in pool.get("stages", [])}
    for member in members:
        card = _card(member)
        cards.setdefault(card.stage, []).append(card)
    return [
        Column(
            stage=stage,
            count=len(held) if every_member else max(int(counts.get(stage, 0)), len(held)),
            cards=sorted(held, key=lambda card: card.name.casefold()),
        )
        for stage, held in cards.items()
    ]


# A selection's names travel with it (`name.<candidate id>` fields beside the checkboxes), so
# the outcome names who was not acted on without another read.
NAME_PREFIX = "name."


def target_value(pool_id: str, stage: str | None = None) -> str:
    """The bulk form's pool select value: a pool (its first stage) or a pool and a stage."""
    return f"{pool_id}{PLACEMENT_SEPARATOR}{stage}" if stage else pool_id


@dataclass(frozen=True)
class BulkRequest:
    """An action on the selected candidates, as a bulk form (a pool's board, the candidate
    list, a profile) sent it."""

    action: str
    candidate_ids: list[str]
    pool_id: str = ""
    # The stage to add them at; empty: the pool's first stage.
    stage: str = ""
    tags: list[str] = field(default_factory=list)
    sequence_id: str = ""
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Mapping[str, Any], candidate_ids: list[str]) -> BulkRequest:
        tags = [part.strip() for part in str(form.get("tags", "")).split(",") if part.strip()]
        pool_id, _, stage = str(form.get("target_pool", "")).partition(PLACEMENT_SEPARATOR)
        ids = list(dict.fromkeys(candidate_ids))
        names = {
            key[len(NAME_PREFIX) :]: " ".join(str(value).split())
            for key, value in form.items()
            if key.startswith(NAME_PREFIX) and str(value).strip()
        }
        return cls(
            action=str(form.get("action", "")),
            candidate_ids=ids,
            pool_id=pool_id,
            stage=stage if pool_id else "",
            tags=list(dict.fromkeys(tags)),
            sequence_id=str(form.get("sequence_id", "")),
            names={key: value for key, value in names.items() if key in ids},
        )

    @property
    def target_value(self) -> str:
        """The pool select's value this request was sent with (to keep it chosen)."""
        return target_value(self.pool_id, self.stage) if self.pool_id else ""

    def errors(self, where: str = "on the board") -> dict[str, str]:
        """What to fix before the API is asked, by the form's field name."""
        found: dict[str, str] = {}
        if self.action not in BULK_ACTIONS:
            found["action"] = "Choose what to do with the selection"
        if not self.candidate_ids:
            found["selection"] = f"Select at least one candidate {where}".strip()
        elif len(self.candidate_ids) > MAX_SELECTION:
            found["selection"] = f"Select at most {MAX_SELECTION} candidates at a time"
        if self.action == "add_to_pool" and not self.pool_id:
            found["target_pool"] = "Choose the pool to add them to"
        if self.action == "tag" and not self.tags:
            found["tags"] = "Type at least one tag"
        if self.action == "enrol" and not self.sequence_id:
            found["sequence_id"] = "Choose the sequence to enrol them in"
        return found


def _people(count: int) -> str:
    return f"{count} candidate{'s' if count != 1 else ''}"


def _who(ids: Sequence[Any], names: Mapping[str, str] | None) -> str:
    """`: Ana Ødegård, c9` after a sentence about people not acted on, when the form sent
    their names (an id stands for a person it did not name)."""
    if names is None or not ids:
        return ""
    return ": " + ", ".join(names.get(str(one), str(one)) for one in ids)


def bulk_summary(
    action: str,
    outcome: Mapping[str, Any],
    target: str,
    names: Mapping[str, str] | None = None,
    *,
    at: str = "",
) -> list[str]:
    """What the API did with each of the selection, as sentences (nothing left unsaid); with
    `names`, each sentence about people not acted on names them; `at`: the stage added at."""
    if action == "add_to_pool":
        parts = [
            (outcome.get("added", []), f"added to {target}{f' at {at}' if at else ''}", False),
            (outcome.get("already_members", []), f"in {target} already", True),
            (outcome.get("not_active", []), "archived or merged, not added", True),
            (outcome.get("unknown", []), "unknown, not added", True),
        ]
    elif action == "tag":
        parts = [
            (outcome.get("tagged", []), f"tagged {target}", False),
            (outcome.get("already_tagged", []), "held the tags already", True),
            (outcome.get("not_active", []), "archived or merged, not tagged", True),
            (outcome.get("unknown", []), "unknown, not tagged", True),
        ]
    else:
        refused: dict[str, list[str]] = {}
        for item in outcome.get("refused", []):
            reason = str(item.get("reason", ""))
            refused.setdefault(reason, []).append(str(item.get("candidate_id", "")))
        lines = (
            [f"{_people(len(outcome.get('enrolled', [])))} enrolled in {target}"]
            if outcome.get("enrolled")
            else []
        )
        lines.extend(
            f"{_people(len(ids))} not enrolled: {REFUSAL_REASONS.get(reason, reason)}"
            f"{_who(ids, names)}"
            for reason, ids in refused.items()
        )
        return lines or ["Nobody was enrolled"]
    return [
        f"{_people(len(ids))} {what}{_who(ids, names) if named else ''}"
        for ids, what, named in parts
        if ids
    ] or ["Nothing changed"]


# What each bulk action did to those it acted on: the outcome's list of them, and its verb.
BULK_DONE = {
    "add_to_pool": ("added", "added"),
    "tag": ("tagged", "tagged"),
    "enrol": ("enrolled", "enrolled"),
}


@dataclass(frozen=True)
class BulkDone:
    """A bulk action's answer: how many of the selection it changed, then what became of each."""

    headline: str
    lines: list[str]


def bulk_headline(action: str, outcome: Mapping[str, Any], selected: int) -> str:
    """How many of the `selected` the action changed ("1 of 8 selected candidates added"):
    those already in the pool, already tagged or not enrolled are not counted as done."""
    key, verb = BULK_DONE.get(action, BULK_DONE["enrol"])
    done = len(outcome.get(key, []))
    chosen = f"selected candidate{'s' if selected != 1 else ''}"
    if done == selected == 2:
        counted = "Both selected candidates"
    elif done == selected and selected > 2:
        counted = f"All {selected} {chosen}"
    else:
        counted = f"{done} of {selected} {chosen}"
    return f"{counted} {verb}; the selection is cleared."


@dataclass(frozen=True)
class StageRow:
    """A stage as the pool's editor lists it: its members and whether it may be deleted."""

    stage: str
    count: int

    @property
    def deletable(self) -> bool:
        # The API refuses to delete a stage with members (without moving them) or the only
        # stage; the editor offers Delete on empty stages and shows the API's word otherwise.
        return self.count == 0


def stage_rows(pool: Mapping[str, Any]) -> list[StageRow]:
    """The pool's stages in pipeline order with their member counts."""
    counts: Mapping[str, int] = pool.get("member_counts") or {}
    return [StageRow(str(stage), int(counts.get(stage, 0))) for stage in pool.get("stages", [])]


def stages_with(pool: Mapping[str, Any], new_stage: str) -> tuple[list[str], str | None]:
    """The pool's stages with `new_stage` added last (the API takes the whole list, in order,
    every current stage kept), or what is wrong with the name before the API is asked."""
    name = " ".join(new_stage.split())
    stages = [str(stage) for stage in pool.get("stages", [])]
    if not name:
        return stages, "Type the new stage's name"
    if name.casefold() in {stage.casefold() for stage in stages}:
        return stages, f"The pool has a stage “{name}” already"
    return [*stages, name], None
