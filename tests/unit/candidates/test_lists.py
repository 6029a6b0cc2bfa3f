"""Stored static lists: how bulk additions and removals account for every id, archiving, and
what makes a name unique."""

from __future__ import annotations

import pytest

from crm_candidates.domain.lists import (
    MAX_IDS_PER_REQUEST,
    ListArchivedError,
    ListStatus,
    StaticList,
    TooManyIdsError,
    distinct_ids,
    list_name_key,
    plan_additions,
    plan_removals,
)

pytestmark = pytest.mark.unit

LIST = StaticList(tenant_id="t", name="Berlin meetup", created_by="u")


def test_every_id_asked_to_be_added_is_accounted_for_once() -> None:
    statuses = {"a": "active", "b": "active", "m": "merged", "x": "archived"}
    plan = plan_additions(["a", "b", "m", "x", "other-tenant", "typo"], statuses, members={"b"})
    assert plan.added == ["a"]
    assert plan.already_members == ["b"]
    assert plan.not_active == ["m", "x"]
    assert plan.unknown == ["other-tenant", "typo"]


def test_adding_the_same_ids_again_adds_nothing() -> None:
    statuses = {"a": "active", "b": "active"}
    first = plan_additions(["a", "b"], statuses, members=set())
    again = plan_additions(["a", "b"], statuses, members=set(first.added))
    assert again.added == []
    assert again.already_members == ["a", "b"]


def test_a_member_is_removed_whatever_became_of_the_record() -> None:
    # "gone" was erased or archived since: still on the list, so it can be taken off.
    plan = plan_removals(["a", "gone", "c", "nobody"], known={"a", "c"}, members={"a", "gone"})
    assert plan.removed == ["a", "gone"]
    assert plan.not_members == ["c"]
    assert plan.unknown == ["nobody"]


def test_ids_are_taken_once_in_order_and_capped() -> None:
    assert distinct_ids([" a", "b", "a", "", "c "]) == ["a", "b", "c"]
    with pytest.raises(TooManyIdsError):
        distinct_ids([f"c{i}" for i in range(MAX_IDS_PER_REQUEST + 1)])


def test_an_edit_is_the_next_version_and_touches_only_name_and_description() -> None:
    edited = LIST.edited({"name": "Berlin meetup 2027", "status": "archived", "version": 9})
    assert (edited.name, edited.status, edited.version) == (
        "Berlin meetup 2027",
        ListStatus.ACTIVE,
        LIST.version + 1,
    )


def test_an_archived_list_is_frozen() -> None:
    archived = LIST.archived("u2")
    assert archived.status is ListStatus.ARCHIVED
    assert archived.archived_by == "u2"
    assert archived.version == LIST.version + 1
    with pytest.raises(ListArchivedError):
        archived.edited({"name": "again"})
    with pytest.raises(ListArchivedError):
        archived.archived("u")
    with pytest.raises(ListArchivedError):
        archived.require_active()


def test_names_differ_ignoring_case_and_spacing_and_archiving_frees_a_name() -> None:
    assert list_name_key("Berlin  Meetup", ListStatus.ACTIVE, "1") == list_name_key(
        "berlin meetup", ListStatus.ACTIVE, "2"
    )
    assert LIST.archived("u").name_key != LIST.name_key
