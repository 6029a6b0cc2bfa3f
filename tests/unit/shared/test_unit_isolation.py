"""The unit tier's settings point at no database (tests/unit/conftest.py)."""

from __future__ import annotations

import pytest

from crm_shared.settings import ServiceSettings

pytestmark = pytest.mark.unit


def test_settings_built_in_a_unit_test_reach_no_local_stack() -> None:
    settings = ServiceSettings(service_name="gateway")
    assert settings.mongodb_uri.startswith("mongodb://127.0.0.1:1/")
