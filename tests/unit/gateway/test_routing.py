import pytest

from crm_gateway.config import GatewaySettings
from crm_gateway.domain.routing import route_for, routes

pytestmark = pytest.mark.unit


def test_the_most_specific_route_serves_a_path() -> None:
    table = routes(
        GatewaySettings(candidates_url="http://candidates", campaigns_url="http://campaigns")
    )
    served_by = {
        path: getattr(route_for(table, path), "service", None)
        for path in (
            "settings/retention",
            "settings/event-embedding",
            "/settings/contact-policy",
            "candidates/42/notes",
            "x",
        )
    }
    assert served_by == {
        "settings/retention": "candidates",
        "settings/event-embedding": "events",
        "/settings/contact-policy": "campaigns",
        "candidates/42/notes": "candidates",
        "x": None,
    }
