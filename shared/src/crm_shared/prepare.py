"""Runs a service's start-up work (its indexes and pending migrations) once, then exits.

`python -m crm_shared.prepare crm_<service>` builds the service's app from the environment, as
its server would, runs the app's start-up hooks (`Platform.startup_hooks`: the outbox's and the
consumer's indexes, the service's own indexes, `run_migrations`) and closes the connection,
without starting Kafka's clients, the relay or any worker. The Helm chart's migrations Job runs
it for each service (deploy/helm), so a long backfill runs before the new replicas start rather
than in their start-up; a replica that starts anyway takes turns through the migrations lease
(`crm_shared.migrations`) and finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

from fastapi import FastAPI

from crm_shared.bootstrap import Platform
from crm_shared.migrations import applied_migrations


async def prepare(package: str) -> dict[int, str]:
    """Runs the start-up hooks of `package`'s app (`<package>.main:create_app`, settings from the
    environment); returns the migrations recorded as applied afterwards."""
    app = importlib.import_module(f"{package}.main").create_app()
    if not isinstance(app, FastAPI) or not isinstance(app.state.platform, Platform):
        raise TypeError(f"{package}.main:create_app did not build a service app")
    platform: Platform = app.state.platform
    try:
        for hook in platform.startup_hooks:
            await hook()
        database = platform.database
        return await applied_migrations(database) if database is not None else {}
    finally:
        if platform.mongo is not None:
            await platform.mongo.close()


def main(argv: list[str]) -> int:
    """Command line: one argument, the service's import package (`crm_ats_sync`)."""
    if len(argv) != 1:
        print(
            "usage: python -m crm_shared.prepare CRM_PACKAGE (e.g. crm_campaigns)", file=sys.stderr
        )
        return 2
    applied = asyncio.run(prepare(argv[0]))
    versions = ", ".join(f"{version} {name}" for version, name in sorted(applied.items()))
    print(f"{argv[0]}: start-up work done; migrations applied: {versions or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
