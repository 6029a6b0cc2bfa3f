"""If-Match handling: the version an edit was made from, or a clear 428/412."""

from __future__ import annotations

import pytest

from crm_shared import ProblemError, etag_for, required_version, stale_version

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("header", ['"7"', 'W/"7"', ' "7" '])
def test_an_entity_tag_names_its_version(header: str) -> None:
    assert required_version(header) == 7
    assert etag_for(7) == '"7"'


@pytest.mark.parametrize(("header", "status"), [(None, 428), ("", 428), ("7", 412), ("*", 412)])
def test_a_missing_or_foreign_tag_is_refused(header: str | None, status: int) -> None:
    with pytest.raises(ProblemError) as refused:
        required_version(header)
    assert refused.value.status == status


def test_a_stale_edit_says_the_current_version() -> None:
    problem = stale_version("sequence", "s1", current=4, expected=3)
    assert (problem.status, problem.headers["ETag"], problem.extensions) == (
        412,
        '"4"',
        {"current_version": 4},
    )
