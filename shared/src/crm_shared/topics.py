"""Creates the catalog's topics on the broker; nothing relies on automatic topic creation."""

from __future__ import annotations

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from crm_shared.contracts.catalog import TOPICS


async def ensure_topics(bootstrap_servers: str, replication_factor: int = 1) -> list[str]:
    """Creates every missing catalog topic and dead-letter topic; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for spec in TOPICS:
            wanted.append(NewTopic(spec.name, spec.partitions, replication_factor))
            # One partition keeps dead letters in arrival order for whoever replays them.
            wanted.append(NewTopic(spec.dead_letter_topic, 1, replication_factor))
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            await admin.create_topics(missing)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


def main(argv: list[str]) -> int:
    """Command line: the bootstrap servers, and the replication factor (1 unless given: a single
    broker, as compose and the local stack run; a cluster's topics want 3, which the Helm
    chart's migrations Job passes from `kafka.topicReplicationFactor`)."""
    if len(argv) not in (1, 2) or not all(word.isdigit() and int(word) > 0 for word in argv[1:]):
        print(
            "usage: python -m crm_shared.topics BOOTSTRAP_SERVERS [REPLICATION_FACTOR]",
            file=sys.stderr,
        )
        return 2
    created = asyncio.run(ensure_topics(argv[0], int(argv[1]) if len(argv) == 2 else 1))
    print("created topics:", ", ".join(created) or "none (all existed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
