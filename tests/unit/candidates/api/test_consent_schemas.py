"""The retention settings a tenant admin may save."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_candidates.api.consent_schemas import RetentionPolicyChange

pytestmark = pytest.mark.unit


def test_the_re_permission_mail_must_go_while_the_consent_lasts() -> None:
    with pytest.raises(ValidationError) as refused:
        RetentionPolicyChange(
            consent_validity_days=30, re_permission_days_before=60, on_lapse="archive"
        )
    [error] = refused.value.errors()
    assert error["loc"] == ("re_permission_days_before",)
    assert "fewer than the 30 days" in error["msg"]
    with pytest.raises(ValidationError):
        RetentionPolicyChange(
            consent_validity_days=30, re_permission_days_before=30, on_lapse="archive"
        )
    accepted = RetentionPolicyChange(
        consent_validity_days=30, re_permission_days_before=29, on_lapse="archive"
    )
    assert accepted.re_permission_days_before == 29


def test_an_invalid_lifetime_is_the_only_error_it_causes() -> None:
    with pytest.raises(ValidationError) as refused:
        RetentionPolicyChange(
            consent_validity_days=0, re_permission_days_before=14, on_lapse="archive"
        )
    assert [error["loc"] for error in refused.value.errors()] == [("consent_validity_days",)]


def test_a_change_names_every_field() -> None:
    # A PUT replaces the whole policy: a field left out is named, never reset to its default.
    with pytest.raises(ValidationError) as refused:
        RetentionPolicyChange(consent_validity_days=30, re_permission_days_before=14)
    assert [error["loc"] for error in refused.value.errors()] == [("on_lapse",)]
