"""`crm-stack up` starts the rest when an optional component (the trace viewer) fails."""

from __future__ import annotations

from typing import Any

import pytest

from crm_devstack.cli import _start_infra
from crm_devstack.processes import ProcessError

pytestmark = pytest.mark.unit


class FakeComponent:
    """A component that starts, or fails to become ready, and remembers being stopped."""

    def __init__(self, name: str, *, optional: bool = False, fails: bool = False) -> None:
        self.name = name
        self.optional = optional
        self.fails = fails
        self.stopped = False

    def launch(self) -> bool:
        return True

    def wait_ready(self) -> None:
        if self.fails:
            raise ProcessError(f"{self.name} exited: java.lang.OutOfMemoryError")

    def stop(self) -> None:
        self.stopped = True


def components(*fakes: FakeComponent) -> list[Any]:
    return list(fakes)


def test_an_optional_component_that_fails_is_stopped_and_the_rest_go_on() -> None:
    kafka, zipkin = FakeComponent("kafka"), FakeComponent("zipkin", optional=True, fails=True)
    assert _start_infra(components(kafka, zipkin)) is True
    assert zipkin.stopped
    assert not kafka.stopped


def test_a_required_component_that_fails_stops_the_start() -> None:
    kafka = FakeComponent("kafka", fails=True)
    assert _start_infra(components(kafka, FakeComponent("zipkin", optional=True))) is False
