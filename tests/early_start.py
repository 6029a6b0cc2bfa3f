"""The e2e tier's slow JVMs (Keycloak, the e2e broker, Zipkin) launched when the session starts.

A JVM takes tens of seconds to start, Keycloak minutes on a loaded machine. The e2e tier runs
last, so when a selected test will need one, the session launches it at its first test, without
waiting, and the unit and integration tiers run meanwhile; the e2e fixture then takes the
launched component and only waits until it is ready. A run that selects no such test launches
nothing. Whatever no fixture took (the run was interrupted, or failed first with -x) is stopped
when the session ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from crm_devstack.infra import InfraComponent, KafkaBroker, Zipkin, free_ports
from crm_devstack.keycloak import Keycloak

C = TypeVar("C", bound=InfraComponent)

# Which components a test needs, by the fixtures it uses.
KEYCLOAK = "keycloak"
E2E_KAFKA = "e2e_kafka"
ZIPKIN = "zipkin"
NEEDED_BY_FIXTURE: dict[str, tuple[str, ...]] = {
    "keycloak": (KEYCLOAK,),
    "e2e_kafka": (E2E_KAFKA,),
    # The process stack's gateway signs browsers in through Keycloak (the console's tests).
    "process_stack": (E2E_KAFKA, ZIPKIN, KEYCLOAK),
}


def needed_components(fixture_names: list[list[str]]) -> set[str]:
    """The components the selected tests need, from each test's fixture names."""
    return {
        component
        for names in fixture_names
        for name in names
        for component in NEEDED_BY_FIXTURE.get(name, ())
    }


class EarlyStarts:
    """Components launched in the background, each handed once to the fixture that asks."""

    def __init__(self) -> None:
        self._launches: dict[str, Future[InfraComponent]] = {}
        self._untaken: dict[str, InfraComponent] = {}
        # Held around each process start and by close(): a component is either started before
        # close() looks, so close() stops it, or never started at all.
        self._lock = threading.Lock()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="early-start")

    def launch(self, name: str, component: InfraComponent) -> None:
        """Fetches what the component needs and starts its process, in a background thread."""
        self._untaken[name] = component
        self._launches[name] = self._pool.submit(self._launch, component)

    def _launch(self, component: InfraComponent) -> InfraComponent:
        # Fetching the jars and formatting the broker's log dir happen here, off the test thread.
        component.prepare()
        with self._lock:
            if not self._closed:
                component.process.start()
        return component

    def take(self, name: str, kind: type[C]) -> C | None:
        """The launched component `name`, now owned (and stopped) by the caller; None when none
        was launched or it was taken already. A failed launch raises here."""
        launch = self._launches.pop(name, None)
        if launch is None:
            return None
        self._untaken.pop(name, None)
        component = launch.result()
        assert isinstance(component, kind)
        return component

    def close(self) -> None:
        """Stops every component no fixture took; none starts after this."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        for component in self._untaken.values():
            component.stop()
        self._untaken.clear()


def launch_needed(
    early: EarlyStarts, needed: set[str], make_dir: Callable[[str], Path]
) -> EarlyStarts:
    """Launches the components in `needed`, each on free ports in a directory of its own."""
    if KEYCLOAK in needed:
        (port,) = free_ports(1)
        early.launch(KEYCLOAK, Keycloak(make_dir("keycloak"), port))
    if E2E_KAFKA in needed:
        port, controller_port = free_ports(2)
        early.launch(E2E_KAFKA, KafkaBroker(make_dir("e2e-kafka"), port, controller_port))
    if ZIPKIN in needed:
        (port,) = free_ports(1)
        early.launch(ZIPKIN, Zipkin(make_dir("e2e-zipkin"), port))
    return early


def take_or_start(early: EarlyStarts, name: str, kind: type[C], fresh: Callable[[], C]) -> C:
    """The early-launched component once ready, or `fresh()` started now when there is none;
    the caller stops it."""
    component = early.take(name, kind)
    if component is None:
        return fresh().start()
    try:
        component.wait_ready()
    except BaseException:
        component.stop()
        raise
    return component
