"""Message reports: the message topics folded into each message's facts and the daily rollup of
every broadcast, sequence step and template, and the reports read from the rollup."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.message_report import (
    Breakdown,
    Figure,
    MessageFacts,
    MessageReport,
    MessageSource,
    SourceKind,
    active_days,
    change,
    report,
)
from crm_analytics.domain.timeseries import report_range
from crm_analytics.repositories.message_reports import MessageReportRepository, unrated_messages
from crm_shared import (
    CONSENT_CHANGED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_COMPLAINED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    MESSAGE_SUPPRESSED,
    ConsentChanged,
    Database,
    EventEnvelope,
    MessageBounced,
    MessageClicked,
    MessageOpened,
    MessageSent,
    MessageSuppressed,
    Session,
    erased_among,
    in_transaction,
)


def _source(message: MessageSent | MessageSuppressed, variant: str | None) -> MessageSource:
    if message.broadcast_id:
        kind, source_id = SourceKind.BROADCAST, message.broadcast_id
    elif message.sequence_id:
        kind, source_id = SourceKind.SEQUENCE, message.sequence_id
    else:
        kind, source_id = SourceKind.DIRECT, ""
    return MessageSource(
        kind=kind,
        source_id=source_id,
        template_id=message.template_id,
        variant=variant,
        step_index=message.step_index if kind is SourceKind.SEQUENCE else None,
        step_label=message.step_label if kind is SourceKind.SEQUENCE else None,
    )


def _sent(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    sent: MessageSent = envelope.data
    source = _source(sent, sent.variant)
    return MessageFacts(sent.message_id, sent.candidate_id, source=source, sent_at=envelope.time)


def _suppressed(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    """A message a send rule stopped: its source as for a sent one (an event published before
    it named the variant counts in a broadcast's group with an empty key)."""
    stopped: MessageSuppressed = envelope.data
    return MessageFacts(
        stopped.message_id,
        stopped.candidate_id,
        source=_source(stopped, stopped.variant),
        suppressed_at=stopped.suppressed_at,
    )


def _opened(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    opened: MessageOpened = envelope.data
    if opened.automated:
        return MessageFacts(opened.message_id, opened.candidate_id, machine_opened_at=envelope.time)
    return MessageFacts(opened.message_id, opened.candidate_id, opened_at=envelope.time)


def _clicked(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    clicked: MessageClicked = envelope.data
    if clicked.automated:
        return MessageFacts(
            clicked.message_id, clicked.candidate_id, machine_clicked_at=envelope.time
        )
    return MessageFacts(clicked.message_id, clicked.candidate_id, clicked_at=envelope.time)


def _bounced(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    bounced: MessageBounced = envelope.data
    if bounced.bounce_type == "hard":
        return MessageFacts(bounced.message_id, bounced.candidate_id, hard_bounced_at=envelope.time)
    return MessageFacts(bounced.message_id, bounced.candidate_id, soft_bounced_at=envelope.time)


def _replied(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    data = envelope.data
    return MessageFacts(data.message_id, data.candidate_id, replied_at=data.received_at)


def _complained(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    data = envelope.data
    return MessageFacts(data.message_id, data.candidate_id, complained_at=envelope.time)


def _consent_changed(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    """An unsubscribe: a consent withdrawn from a message's link (the unsubscribe link or the
    preference centre it opens); other consent changes tell the reports nothing."""
    changed: ConsentChanged = envelope.data
    if changed.message_id is None or changed.status != "withdrawn":
        return None
    return MessageFacts(changed.message_id, changed.candidate_id, unsubscribed_at=envelope.time)


_FOLDS: dict[str, Callable[[EventEnvelope[Any]], MessageFacts | None]] = {
    MESSAGE_SENT.name: _sent,
    MESSAGE_OPENED.name: _opened,
    MESSAGE_CLICKED.name: _clicked,
    MESSAGE_BOUNCED.name: _bounced,
    MESSAGE_REPLIED.name: _replied,
    MESSAGE_COMPLAINED.name: _complained,
    CONSENT_CHANGED.name: _consent_changed,
    MESSAGE_SUPPRESSED.name: _suppressed,
}


def folded(envelope: EventEnvelope[Any]) -> MessageFacts | None:
    """What the event tells of its message (None: nothing the reports count); a message
    folded now counts in the rates' numerators (`rated`)."""
    facts = _FOLDS[envelope.type](envelope)
    return replace(facts, rated=True) if facts is not None else None


def _changes(
    messages: Iterable[tuple[MessageFacts | None, MessageFacts]],
) -> dict[tuple[MessageSource, date], dict[Figure, int]]:
    """What the messages' new facts (before, after) change in the rollup, summed per row."""
    changes: dict[tuple[MessageSource, date], dict[Figure, int]] = {}
    for before, after in messages:
        for key, by in change(before, after).items():
            row = changes.setdefault(key, {})
            for figure, n in by.items():
                row[figure] = row.get(figure, 0) + n
    return changes


@dataclass(frozen=True)
class MessageReportFolder:
    """Applies consumed message events to the message index and the daily rollup. Facts merge
    in any order and any number of times, and the rollup changes by the difference a batch
    makes to each message's contribution, so a redelivery counts once."""

    storage: AnalyticsStorage

    async def record_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        """Folds a batch with one read and two writes per tenant; an event about a candidate
        erased already is not recorded (nor counted)."""
        by_tenant: dict[str, list[MessageFacts]] = {}
        for envelope in envelopes:
            facts = folded(envelope)
            if facts is not None:
                by_tenant.setdefault(envelope.tenant_id, []).append(facts)
        for tenant_id, told in by_tenant.items():
            named = sorted({f.candidate_id for f in told if f.candidate_id})
            erased = await erased_among(self.storage.database, tenant_id, named, session=session)
            told = [f for f in told if f.candidate_id not in erased]
            if told:
                await self._fold(tenant_id, told, session)

    async def _fold(self, tenant_id: str, told: Sequence[MessageFacts], session: Session) -> None:
        repository = self.storage.message_reports(tenant_id)
        ids = list(dict.fromkeys(f.message_id for f in told))
        known = await repository.facts(ids, session=session)
        merged = dict(known)
        for facts in told:
            before = merged.get(facts.message_id)
            merged[facts.message_id] = before.merged(facts) if before else facts
        changes = _changes((known.get(i), merged[i]) for i in ids)
        await repository.record_facts([merged[i] for i in ids], session=session)
        await repository.add(changes, session=session)


class UnknownSource(Exception):
    """Analytics knows of no message sent by this broadcast, sequence or template here."""


@dataclass(frozen=True)
class ReportScope:
    """Which messages a report is about and how it splits them."""

    breakdown: Breakdown
    kind: SourceKind | None = None
    source_id: str | None = None
    template_id: str | None = None

    @classmethod
    def broadcast(cls, broadcast_id: str) -> ReportScope:
        return cls(Breakdown.VARIANT, kind=SourceKind.BROADCAST, source_id=broadcast_id)

    @classmethod
    def sequence(cls, sequence_id: str) -> ReportScope:
        return cls(Breakdown.STEP, kind=SourceKind.SEQUENCE, source_id=sequence_id)

    @classmethod
    def template(cls, template_id: str) -> ReportScope:
        return cls(Breakdown.SOURCE, template_id=template_id)


async def message_report(
    storage: AnalyticsStorage,
    tenant_id: str,
    scope: ReportScope,
    first_day: date | None,
    last_day: date | None,
) -> MessageReport:
    """The report of the days asked for (both included); a missing end is the first or last
    day anything happened (`report_range`). `UnknownSource` when
    nothing of it was ever sent, `RangeError` for a reversed or too long range."""
    repository = storage.message_reports(tenant_id)
    if not await repository.known(scope.kind, scope.source_id, scope.template_id):
        raise UnknownSource(scope.source_id or scope.template_id)
    rows = await repository.rows(
        scope.kind, scope.source_id, scope.template_id, first_day=first_day, last_day=last_day
    )
    first, last = report_range(active_days(rows), first_day, last_day, date.today())
    return report(rows, scope.breakdown, first, last)


async def rate_messages_folded_before(database: Database, batch_size: int = 500) -> None:
    """Migration 3: the messages folded before the rates' numerators existed (not `rated`)
    add theirs to the rollup, each in the transaction that marks it, so a crash part-way or a
    consumer folding the same message meanwhile never counts one twice."""
    while pending := await unrated_messages(database, batch_size):
        by_tenant: dict[str, list[str]] = {}
        for tenant_id, message_id in pending:
            by_tenant.setdefault(tenant_id, []).append(message_id)
        for tenant_id, message_ids in by_tenant.items():
            repository = MessageReportRepository(database, tenant_id)

            async def rate(
                session: Session,
                repository: MessageReportRepository = repository,
                message_ids: list[str] = message_ids,
            ) -> None:
                known = await repository.facts(message_ids, session=session)
                unrated = [facts for facts in known.values() if not facts.rated]
                rated = [replace(facts, rated=True) for facts in unrated]
                changes = _changes(zip(unrated, rated, strict=True))
                await repository.record_facts(rated, session=session)
                await repository.add(changes, session=session)

            await in_transaction(database.client, rate)
