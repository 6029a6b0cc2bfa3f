"""An edit of a sequence's steps moves its enrolments in progress with the steps, against
SecantusDB: positions and the record of sent messages follow, finished enrolments stay, and
an enrolment claimed at a position the edit moved is not found there."""

from __future__ import annotations

from typing import Any

import pytest

from crm_campaigns.domain.sequences import parse_steps, step_remap
from crm_campaigns.repositories.collections import ENROLMENTS
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_shared import Session, in_transaction
from integration.campaigns.application.test_delivery import Setup, setup

pytestmark = pytest.mark.integration

__all__ = ["setup"]


def _send(template: str) -> dict[str, Any]:
    return {"type": "send", "template_id": template}


async def test_enrolments_in_progress_follow_the_edited_steps(setup: Setup) -> None:
    old = parse_steps([_send("welcome"), {"type": "wait", "days": 2}, _send("jobs")])
    new = parse_steps([_send("intro"), _send("welcome"), {"type": "wait", "days": 2}])
    enrolments = setup.database[ENROLMENTS]
    base = {"tenant_id": setup.tenant, "sequence_id": "seq", "entry": 1}
    documents = [
        # Waiting to send "jobs", which the edit removed: past the last step now (it ends);
        # the welcome mail it was sent moves with its step, for a branch to read.
        base | {"_id": "e1", "status": "active", "step_index": 2, "sent_messages": {"0": "m1"}},
        # Paused before the welcome mail.
        base | {"_id": "e2", "status": "paused", "step_index": 0, "sent_messages": {}},
        # Failed at "jobs": the same.
        base | {"_id": "e3", "status": "failed", "step_index": 2, "sent_messages": {"0": "m3"}},
        # Done: kept as it was.
        base | {"_id": "e4", "status": "completed", "step_index": 3, "sent_messages": {"0": "m4"}},
        # Another sequence's.
        base | {"_id": "e5", "sequence_id": "other", "status": "active", "step_index": 2},
    ]
    await enrolments.insert_many([d | {"candidate_id": f"c-{d['_id']}"} for d in documents])
    repository = EnrolmentRepository(setup.database, setup.tenant)
    moved: list[int] = []

    async def edit(session: Session) -> None:
        moved.append(
            await repository.follow_edited_steps("seq", step_remap(old, new), session=session)
        )

    await in_transaction(setup.mongo, edit)
    found = {
        document["_id"]: (document["step_index"], document.get("sent_messages"))
        for document in await enrolments.find({}).to_list()
    }
    assert found == {
        "e1": (3, {"1": "m1"}),
        "e2": (0, {}),
        "e3": (3, {"1": "m3"}),
        "e4": (3, {"0": "m4"}),
        "e5": (2, None),
    }
    assert moved == [2]  # e2 stands where it stood: not written
