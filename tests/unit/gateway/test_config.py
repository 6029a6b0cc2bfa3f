import pytest
from pydantic import ValidationError

from crm_gateway.config import GatewaySettings
from crm_shared.bootstrap import SERVER_KEEP_ALIVE_SECONDS

pytestmark = pytest.mark.unit


def test_the_upstream_pool_lets_idle_connections_go_before_the_services_close_them() -> None:
    assert GatewaySettings().upstream_keep_alive_seconds < SERVER_KEEP_ALIVE_SECONDS
    with pytest.raises(ValidationError, match="upstream_keep_alive_seconds"):
        GatewaySettings(upstream_keep_alive_seconds=SERVER_KEEP_ALIVE_SECONDS)
