"""One more campaigns dispatcher process for benchmark 5: sends the benchmark broadcast's due
messages until the broadcast is complete, as another replica of the service would.

Run by `bench.broadcast` with its settings as one JSON argument.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pymongo import AsyncMongoClient

from bench.broadcast import dispatcher
from crm_campaigns.adapters.smtp import SmtpPool
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.domain.models import BroadcastStatus
from crm_campaigns.repositories.collections import BROADCASTS
from crm_shared.bootstrap import tune_garbage_collector

FINISHED = {BroadcastStatus.COMPLETED.value, BroadcastStatus.CANCELLED.value}


async def work(settings: dict[str, Any]) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings["mongodb_uri"], tz_aware=True
    )
    database = mongo[settings["database"]]
    pool = SmtpPool("127.0.0.1", settings["smtp_port"], 30, settings["pool_size"])
    worker = dispatcher(mongo, database, pool, settings["batch_size"])
    tune_garbage_collector(CampaignsSettings.model_fields["gc_young_threshold"].default)
    try:
        while True:
            handled = await worker.deliver_batch()
            if handled < settings["batch_size"]:
                broadcast = await database[BROADCASTS].find_one({"_id": settings["broadcast_id"]})
                if not handled and broadcast is not None and broadcast["status"] in FINISHED:
                    return
                await asyncio.sleep(0.05)
    finally:
        await pool.close()
        await mongo.close()


if __name__ == "__main__":
    asyncio.run(work(json.loads(sys.argv[1])))
