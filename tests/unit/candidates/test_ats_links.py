"""The ATS links of a candidate: a redelivered push replaces its link, and an undone merge gives
each record its own links, including those learned while merged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_candidates.domain.models import AtsLink, links_back_after_unmerge, with_link

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _link(candidate_id: str, ats_id: str, job: str | None = None) -> AtsLink:
    return AtsLink(
        provider="greenhouse",
        connection_id="k",
        candidate_id=candidate_id,
        ats_candidate_id=ats_id,
        ats_application_id=f"app-{ats_id}",
        ats_job_id=job,
        linked_at=AT,
    )


def test_a_redelivered_push_replaces_its_link_and_another_job_adds_one() -> None:
    first = _link("s", "1")
    links = with_link([first], _link("s", "1"))
    assert links == [first]
    assert with_link(links, _link("s", "1", job="7")) == [first, _link("s", "1", job="7")]


def test_an_undone_merge_gives_links_learned_since_to_the_record_pushed() -> None:
    survivor_before, merged_before = [_link("s", "1")], [_link("m", "2")]
    since_for_survivor, since_for_merged = _link("s", "3"), _link("m", "4")
    current = [*survivor_before, *merged_before, since_for_survivor, since_for_merged]
    survivor, merged = links_back_after_unmerge(current, survivor_before, merged_before, "m")
    assert survivor == [*survivor_before, since_for_survivor]
    assert merged == [*merged_before, since_for_merged]
