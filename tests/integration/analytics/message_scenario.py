"""A seeded message workload with a known answer: a broadcast with an A/B test and a two-step
sequence sharing a template, each message sent, opened by people and bots, clicked, bounced
(hard and soft; one after a person opened it), replied to, unsubscribed from and complained
about at random; and the report's
totals computed independently from the raw events (sets of message ids, no folding)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from crm_shared import (
    CONSENT_CHANGED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_COMPLAINED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    ConsentChanged,
    EventEnvelope,
    MessageBounced,
    MessageClicked,
    MessageComplained,
    MessageOpened,
    MessageReplied,
    MessageSent,
    TopicSpec,
)


@dataclass(frozen=True)
class Ids:
    tenant_id: str
    broadcast_id: str
    sequence_id: str
    template_id: str


def scenario(ids: Ids, seed: int, start: datetime | None = None) -> list[EventEnvelope[Any]]:
    """Every event of the workload, each message's sending first except for one human open
    announced before its message's sending. `start` spreads the events over days (None: the
    envelopes keep their publication time)."""
    rng = random.Random(seed)
    events: list[EventEnvelope[Any]] = []
    minute = 0

    def add(spec: TopicSpec, data: BaseModel, candidate_id: str) -> None:
        nonlocal minute
        minute += rng.choice((1, 30, 400))
        timing = {"time": start + timedelta(minutes=minute)} if start is not None else {}
        events.append(
            EventEnvelope[Any](
                type=spec.name,
                source="test",
                tenant_id=ids.tenant_id,
                subject=candidate_id,
                schema_version=spec.schema_version,
                data=data,
                **timing,
            )
        )

    messages: list[tuple[str, str, dict[str, Any]]] = []
    for n in range(14):
        messages.append(
            (
                f"{ids.broadcast_id}-m{n}",
                f"{ids.tenant_id}-c{n}",
                {"broadcast_id": ids.broadcast_id, "variant": "AB"[n % 2]},
            )
        )
    for n in range(6):
        messages.append(
            (
                f"{ids.sequence_id}-m{n}",
                f"{ids.tenant_id}-c{n}",
                {
                    "sequence_id": ids.sequence_id,
                    "enrolment_id": f"{ids.sequence_id}-e{n % 3}",
                    "step_index": 0 if n < 3 else 2,
                    "step_label": "Hello" if n < 3 else "Follow-up",
                },
            )
        )
    for index, (message_id, candidate_id, source) in enumerate(messages):
        ref = {"message_id": message_id, "candidate_id": candidate_id}
        sent = MessageSent(**ref, template_id=ids.template_id, subject="Hi", **source)
        if index == 1:  # the open travels faster than the sending
            add(MESSAGE_OPENED, MessageOpened(**ref), candidate_id)
        add(MESSAGE_SENT, sent, candidate_id)
        if rng.random() < 0.4:
            add(MESSAGE_OPENED, MessageOpened(**ref, automated=True), candidate_id)
        if index == 9:  # opened by a person, then the address turns out dead
            add(MESSAGE_OPENED, MessageOpened(**ref), candidate_id)
        if index in (2, 9):
            add(
                MESSAGE_BOUNCED,
                MessageBounced(**ref, bounce_type="hard", reason="550", source="dsn"),
                candidate_id,
            )
            continue
        if index == 5:
            add(
                MESSAGE_BOUNCED,
                MessageBounced(**ref, bounce_type="soft", reason="452", source="dsn"),
                candidate_id,
            )
            continue
        for _ in range(rng.choice((0, 1, 2))):
            add(MESSAGE_OPENED, MessageOpened(**ref), candidate_id)
        if rng.random() < 0.3:
            click = MessageClicked(**ref, link_index=0, url="https://x.test", automated=True)
            add(MESSAGE_CLICKED, click, candidate_id)
        if rng.random() < 0.4:
            add(
                MESSAGE_CLICKED,
                MessageClicked(**ref, link_index=0, url="https://x.test"),
                candidate_id,
            )
        if rng.random() < 0.25:
            add(
                MESSAGE_REPLIED,
                MessageReplied(**ref, received_at=start or datetime.now().astimezone()),
                candidate_id,
            )
        if index in (4, 15):
            add(
                CONSENT_CHANGED,
                ConsentChanged(
                    candidate_id=candidate_id,
                    purpose="marketing",
                    status="withdrawn",
                    lawful_basis="consent",
                    source="unsubscribe_link",
                    marketing_consent=False,
                    message_id=message_id,
                ),
                candidate_id,
            )
        if index == 6:
            add(
                MESSAGE_COMPLAINED,
                MessageComplained(**ref, feedback_type="abuse", source="ses"),
                candidate_id,
            )
    return events


FIGURES = (
    "sent",
    "delivered",
    "bounced_hard",
    "bounced_soft",
    "opened",
    "clicked",
    "machine_opened",
    "machine_clicked",
    "replied",
    "unsubscribed",
    "complained",
    "delivered_opened",
    "delivered_clicked",
    "delivered_replied",
    "delivered_unsubscribed",
    "delivered_complained",
)


def expected(
    events: list[EventEnvelope[Any]], group: Callable[[MessageSent], str | None]
) -> dict[str, dict[str, int]]:
    """Each group's figures (and `total`'s) over the whole workload, from the raw events: the
    messages `group` puts somewhere (None: left out), per figure."""
    sent = {e.data.message_id: e.data for e in events if e.type == MESSAGE_SENT.name}
    ids: dict[str, set[str]] = {figure: set() for figure in FIGURES}
    ids["sent"] = set(sent)
    ids["bounced"] = set()
    for e in events:
        data = e.data
        message_id: str = getattr(data, "message_id", None) or ""
        if e.type == MESSAGE_OPENED.name:
            ids["machine_opened" if data.automated else "opened"].add(message_id)
        elif e.type == MESSAGE_CLICKED.name:
            ids["machine_clicked" if data.automated else "clicked"].add(message_id)
        elif e.type == MESSAGE_BOUNCED.name:
            ids[f"bounced_{data.bounce_type}"].add(message_id)
            ids["bounced"].add(message_id)
        elif e.type == MESSAGE_REPLIED.name:
            ids["replied"].add(message_id)
        elif e.type == MESSAGE_COMPLAINED.name:
            ids["complained"].add(message_id)
        elif e.type == CONSENT_CHANGED.name and data.status == "withdrawn" and message_id:
            ids["unsubscribed"].add(message_id)
    ids["bounced_soft"] -= ids["bounced_hard"]
    ids["delivered"] = ids["sent"] - ids["bounced"]
    # The rates' numerators: of the delivered messages only (an open before a bounce is not).
    for figure in ("opened", "clicked", "replied", "unsubscribed", "complained"):
        ids[f"delivered_{figure}"] = ids[figure] & ids["delivered"]
    groups: dict[str, dict[str, int]] = {}
    for name in ["total", *sorted({g for m in sent.values() if (g := group(m)) is not None})]:
        members = {
            m
            for m, s in sent.items()
            if (name == "total" and group(s) is not None) or group(s) == name
        }
        groups[name] = {figure: len(ids[figure] & members) for figure in FIGURES}
    return groups
