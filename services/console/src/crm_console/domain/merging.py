"""The side-by-side merge of two records of one person: which fields the page compares, which
choices each field offers, what is chosen before the person changes anything, and the choices
the API receives (`POST /candidates/merges`). Pure functions, tested without a browser."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm_console.domain.profile import NOTHING, display_value, labelled_custom_fields
from crm_console.domain.questions import Question
from crm_shared.text import better_written

# The fields a person compares, in the profile's order. List and dictionary fields can also be
# united; the API refuses a union of anything else.
MERGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("emails", "E-mail addresses"),
    ("phones", "Phone numbers"),
    ("headline", "Headline"),
    ("current_title", "Title"),
    ("current_company", "Company"),
    ("location", "Location"),
    ("time_zone", "Time zone"),
    ("locale", "Language"),
    ("seniority", "Seniority"),
    ("skills", "Skills"),
    ("tags", "Tags"),
    ("desired_roles", "Desired roles"),
    ("profile_urls", "Profile links"),
    ("source", "Source"),
    ("owner_id", "Owner"),
    ("custom_fields", "Custom fields"),
)
UNITABLE = frozenset(
    {"emails", "phones", "skills", "tags", "desired_roles", "profile_urls", "custom_fields"}
)
CHOICES = ("survivor", "merged", "union")
# The identifiers a person is recognised by: the API keeps both records' (union only).
IDENTIFIERS = frozenset({"emails", "phones", "profile_urls"})


@dataclass(frozen=True)
class MergeRow:
    """One field of the comparison."""

    field: str
    label: str
    kept: str
    other: str
    # Whether the two records hold the same value: nothing to choose.
    same: bool
    choices: tuple[str, ...]
    chosen: str


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _shown(field: str, value: Any, definitions: Sequence[Mapping[str, Any]]) -> str:
    if field == "custom_fields" and isinstance(value, Mapping):
        # Each under its label, in the tenant's order, as the profile shows them.
        return (
            "; ".join(
                f"{shown.label}: {shown.value}"
                for shown in labelled_custom_fields(value, definitions)
            )
            or NOTHING
        )
    return display_value(value)


def default_choice(field: str, kept: Any, other: Any) -> str:
    """What the page proposes: lists united, otherwise the kept record's value unless it has
    none or the other holds the same text better written (`Zoë` over `Zoe`): the API's own
    default, made visible."""
    if field in UNITABLE:
        return "union"
    if _empty(kept) and not _empty(other):
        return "merged"
    return "merged" if better_written(kept, other) else "survivor"


def merge_rows(
    kept: Mapping[str, Any],
    other: Mapping[str, Any],
    definitions: Sequence[Mapping[str, Any]] = (),
    owner_name: Callable[[str | None], str] | None = None,
) -> list[MergeRow]:
    """The comparison of the record that stays (`kept`) with the one folded into it; custom
    fields under the labels of their `definitions`, owners by `owner_name` (a member's name,
    as the profile shows them)."""
    rows = []
    for field, label in MERGE_FIELDS:
        mine, theirs = kept.get(field), other.get(field)
        if field == "owner_id" and owner_name is not None:
            shown_mine = owner_name(mine) if mine else NOTHING
            shown_theirs = owner_name(theirs) if theirs else NOTHING
        else:
            shown_mine = _shown(field, mine, definitions)
            shown_theirs = _shown(field, theirs, definitions)
        rows.append(
            MergeRow(
                field=field,
                label=label,
                kept=shown_mine,
                other=shown_theirs,
                same=mine == theirs if field == "owner_id" else shown_mine == shown_theirs,
                choices=(
                    ("union",)
                    if field in IDENTIFIERS
                    else CHOICES
                    if field in UNITABLE
                    else CHOICES[:2]
                ),
                chosen=default_choice(field, mine, theirs),
            )
        )
    return rows


def merge_choices(form: Mapping[str, str]) -> dict[str, str]:
    """The API's `choices` from the submitted form (`choice.<field>` = survivor/merged/union):
    only known fields and the choices they offer; the API checks them again."""
    chosen: dict[str, str] = {}
    for field, _ in MERGE_FIELDS:
        value = form.get(f"choice.{field}")
        if field in IDENTIFIERS:
            continue  # always both records' (the API's default)
        if value in CHOICES and (value != "union" or field in UNITABLE):
            chosen[field] = value
    return chosen


# What the merge page's undo asks first.
UNDO_MERGE = Question(
    "Undo this merge? Both records go back to how they were at the merge, and changes made "
    "to the kept record since are lost.",
    "Undo this merge",
)
