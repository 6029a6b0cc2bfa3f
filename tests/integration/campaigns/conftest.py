"""A database of its own for a dispatcher, for the campaigns tests outside test_delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm_campaigns.config import CampaignsSettings
from crm_campaigns.repositories.collections import ensure_indexes
from crm_shared import Outbox, create_mongo_client
from helpers import unique
from integration.campaigns.application.test_delivery import Setup


@pytest.fixture
async def delivery(mongodb_uri: str) -> AsyncIterator[Setup]:
    settings = CampaignsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("campaigns"))
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    await Outbox(database, "campaigns").ensure_indexes()
    yield Setup(mongo, database, unique("tenant"))
    await mongo.close()
