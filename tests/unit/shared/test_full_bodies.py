"""A settings PUT replaces the whole setting: its body names every field, so a partial body
(`{"soft_bounce_limit": 4}`) is a 422 naming what is missing instead of resetting the rest."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from crm_analytics.api.weekly_reports import WeeklyReportSettingsUpdate
from crm_campaigns.api.schemas import ContactPolicyPut
from crm_campaigns.domain.contact_policy import ContactPolicy
from crm_candidates.api.consent_schemas import RetentionPolicyChange
from crm_gateway.api.tenancy_schemas import AdmissionSettingsPut

WHOLE: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (
        ContactPolicyPut,
        {
            "frequency_cap": {"max_messages": 2, "period_days": 7},
            "quiet_hours": {"start": "21:00", "end": "07:00"},
            "on_limit": "defer",
            "default_time_zone": "Europe/Berlin",
            "soft_bounce_limit": 4,
        },
    ),
    (
        RetentionPolicyChange,
        {"consent_validity_days": 365, "re_permission_days_before": 30, "on_lapse": "archive"},
    ),
    (WeeklyReportSettingsUpdate, {"recipients": ["a@acme.example"], "weekday": 1, "hour": 8}),
    (
        AdmissionSettingsPut,
        {
            "email_domains": ["acme.example"],
            "jit_provisioning": True,
            "default_role": "viewer",
            "roles_from_token": True,
        },
    ),
]


@pytest.mark.parametrize(("model", "whole"), WHOLE, ids=lambda v: getattr(v, "__name__", ""))
def test_a_settings_put_names_every_field(model: type[BaseModel], whole: dict[str, Any]) -> None:
    model.model_validate(whole)
    assert set(model.model_json_schema()["required"]) == set(whole)
    for left_out in whole:
        with pytest.raises(ValidationError) as refused:
            model.model_validate({k: v for k, v in whole.items() if k != left_out})
        assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [((left_out,), "missing")]


def test_the_stored_policy_keeps_its_defaults_and_a_null_is_sent_not_left_out() -> None:
    # The domain model still reads a tenant that never set a policy.
    assert ContactPolicy().soft_bounce_limit == 3
    off = dict(WHOLE[0][1], frequency_cap=None, quiet_hours=None)
    assert ContactPolicyPut.model_validate(off).frequency_cap is None
