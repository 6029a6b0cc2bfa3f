"""A database of its own for a dispatcher, for the campaigns tests outside test_delivery; the
campaigns API in-process on a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from crm_campaigns.config import CampaignsSettings
from crm_campaigns.main import create_app
from crm_campaigns.repositories.collections import ensure_indexes
from crm_shared import Database, Outbox, create_mongo_client
from helpers import unique
from integration.campaigns.application.test_delivery import Setup
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY


@pytest.fixture
async def delivery(mongodb_uri: str) -> AsyncIterator[Setup]:
    settings = CampaignsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("campaigns"))
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    await Outbox(database, "campaigns").ensure_indexes()
    yield Setup(mongo, database, unique("tenant"))
    await mongo.close()


@pytest.fixture
async def api(mongodb_uri: str) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The campaigns API (no consumers) and its database, called as the gateway would."""
    settings = CampaignsSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=unique("campaigns_api"),
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        tracking_secret="integration-tests-tracking-secret-0123456789",
        link_signing_secret="integration-tests-link-signing-secret-0123456789",
        log_json=False,
    )
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://campaigns") as client:
        yield client, database
    await mongo.drop_database(settings.mongodb_database)
    await mongo.close()
