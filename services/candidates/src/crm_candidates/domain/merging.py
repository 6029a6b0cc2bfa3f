"""Merging two records of one person: which value wins per field, and where each came from.

Pure functions. Lists are united by default (the survivor's values first); a dictionary field
(custom fields) is united key by key with the survivor winning a conflict; any other field keeps
the survivor's value unless the survivor has none, or unless both hold the same text written
differently and the merged record's is the better written: with its diacritics ("Zoë" over
"Zoe") or its capitals ("Ada Lovelace" over "ada lovelace", "ADA LOVELACE"). A caller may
choose `survivor` or `merged` for any field, and `union` for list and dictionary fields. Every
value of the result carries its origin: the record it came from and that record's source;
values a record itself received in an earlier merge keep their earlier origin.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, get_origin

from crm_candidates.domain.identity import IDENTIFIER_KEYS
from crm_candidates.domain.models import RECORD_FIELDS, Candidate
from crm_shared.text import better_written

# Pool placements are kept by the pool commands from their own memberships: the survivor keeps
# its own (the merged record's memberships are listed on the merge, not moved).
NOT_MERGED = frozenset({"pools"})
MERGEABLE_FIELDS = tuple(
    name for name in Candidate.model_fields if name not in RECORD_FIELDS | NOT_MERGED
)


# List and dictionary fields, by their declared type (a required list such as `emails` has no
# default to tell from).
_COLLECTION_FIELDS = frozenset(
    name
    for name in MERGEABLE_FIELDS
    if get_origin(Candidate.model_fields[name].annotation) in (list, dict)
)


class FieldChoice(StrEnum):
    """Which record's value a field of the merged profile takes."""

    SURVIVOR = "survivor"
    MERGED = "merged"
    UNION = "union"


class MergeChoiceError(ValueError):
    """A field choice names an unknown field or a choice the field cannot take."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


# The identifiers a person is recognised by: both records' are always kept.
IDENTIFIER_FIELDS = frozenset(IDENTIFIER_KEYS)


def check_choices(choices: dict[str, FieldChoice]) -> None:
    """Raises `MergeChoiceError` for choices naming unknown fields or impossible unions."""
    errors: list[tuple[str, str]] = []
    for name, choice in choices.items():
        if name not in MERGEABLE_FIELDS:
            known = ", ".join(MERGEABLE_FIELDS)
            errors.append((f"choices.{name}", f"not a mergeable field ({known})"))
            continue
        if choice is FieldChoice.UNION and name not in _COLLECTION_FIELDS:
            errors.append((f"choices.{name}", "only list and dictionary fields can be united"))
        elif choice is not FieldChoice.UNION and name in IDENTIFIER_FIELDS:
            # Dropping one would free its identity key: the address would find nobody, a new
            # record could take it, and the merge could no longer be undone.
            errors.append(
                (
                    f"choices.{name}",
                    "a merge keeps the e-mail addresses, phone numbers and profile links of "
                    "both records (union); remove one from the record after the merge",
                )
            )
    if errors:
        raise MergeChoiceError(errors)


def _identity(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _origin(record: Candidate, field: str, value: Any) -> dict[str, Any]:
    """Where `record` got `value` of `field`: an earlier merge's origin, or the record itself."""
    for earlier in record.provenance.get(field, []):
        if _identity(earlier.get("value")) == _identity(value):
            return dict(earlier)
    return {"value": value, "candidate_id": record.id, "source": record.source.value}


def _origins(record: Candidate, field: str, values: list[Any]) -> list[dict[str, Any]]:
    return [_origin(record, field, value) for value in values]


def merge_profiles(
    survivor: Candidate, merged: Candidate, choices: dict[str, FieldChoice]
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The survivor's new profile fields and the provenance of every value in them."""
    check_choices(choices)
    kept = survivor.model_dump(mode="json")
    folded = merged.model_dump(mode="json")
    fields: dict[str, Any] = {}
    provenance: dict[str, list[dict[str, Any]]] = {}
    for name in MERGEABLE_FIELDS:
        ours, theirs = kept[name], folded[name]
        value: Any
        if isinstance(ours, list):
            choice = choices.get(name, FieldChoice.UNION)
            if choice is FieldChoice.SURVIVOR:
                value, origins = ours, _origins(survivor, name, ours)
            elif choice is FieldChoice.MERGED:
                value, origins = theirs, _origins(merged, name, theirs)
            else:
                seen = {_identity(item) for item in ours}
                added = [item for item in theirs if _identity(item) not in seen]
                added = list({_identity(item): item for item in added}.values())
                value = [*ours, *added]
                origins = [*_origins(survivor, name, ours), *_origins(merged, name, added)]
        elif isinstance(ours, dict):
            choice = choices.get(name, FieldChoice.UNION)
            if choice is FieldChoice.SURVIVOR:
                value = ours
            elif choice is FieldChoice.MERGED:
                value = theirs
            else:
                value = {**theirs, **ours}
            origins = [
                _origin(
                    survivor if key in ours and value[key] == ours[key] else merged,
                    name,
                    {key: item},
                )
                for key, item in value.items()
            ]
        else:
            choice = choices.get(name, FieldChoice.SURVIVOR)
            take_merged = (
                choice is FieldChoice.MERGED
                or (ours is None and theirs is not None)
                or better_written(ours, theirs)
            )
            if name in choices and choice is FieldChoice.SURVIVOR:
                take_merged = False
            source = merged if take_merged else survivor
            value = theirs if take_merged else ours
            origins = [_origin(source, name, value)] if value is not None else []
        fields[name] = value
        if origins:
            provenance[name] = origins
    return fields, provenance
