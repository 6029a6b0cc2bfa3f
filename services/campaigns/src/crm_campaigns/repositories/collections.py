"""The collections of the campaigns service and their indexes."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import OperationFailure

from crm_campaigns.repositories.invitation_mails import ensure_invitation_mail_indexes
from crm_campaigns.repositories.report_mails import ensure_report_mail_indexes
from crm_shared import (
    Database,
    ensure_merged_id_indexes,
)

RECIPIENTS = "recipients"
CUSTOM_FIELDS = "custom_fields"


TEMPLATES = "templates"


SEQUENCES = "sequences"


ENROLMENTS = "enrolments"


MESSAGES = "messages"


SEGMENT_MEMBERS = "segment_members"


SEGMENT_ENROLMENT_GUARDS = "segment_enrolment_guards"


POOL_MEMBERS = "pool_members"


LIST_MEMBERS = "list_members"


POOL_STAGE_RENAMES = "pool_stage_renames"


# The tenants' talent pools (name, stages) as the candidates service last announced them.
POOLS = "pools"


ARCHIVED_LISTS = "archived_lists"


BROADCASTS = "broadcasts"


BROADCAST_RECIPIENTS = "broadcast_recipients"


BLOCKS = "blocks"


SIGNALS = "candidate_signals"


# Which candidate a merged-away id was folded into (from `candidate.merged`, gone on its undo):
# an enrolment asked for that id is refused with the survivor's.
MERGED_CANDIDATES = "merged_candidates"


SIGNAL_RETENTION_SECONDS = 400 * 24 * 3600


NOTIFICATIONS = "notifications"


EVENT_MAILS = "event_mails"


# The unique index of the first version, which allowed one enrolment per candidate and sequence.
_SINGLE_ENROLMENT_INDEX = "tenant_id_1_sequence_id_1_candidate_id_1"


SUPPRESSIONS = "suppressions"
# Entries someone lifted, as they were listed (what the audit log's entry id stood for).
SUPPRESSION_LIFTS = "suppression_lifts"


CONTACT_POLICIES = "contact_policies"


CONTACT_LEDGER = "contact_ledger"


SOFT_BOUNCES = "soft_bounces"


GOVERNANCE_COUNTERS = "governance_counters"


JOBS = "jobs"


# The candidates' ATS applications as far as exit conditions need them (status, not stages).
ATS_APPLICATIONS = "ats_applications"


# The send ledger keeps what the longest possible frequency cap window can look at.
LEDGER_RETENTION = timedelta(days=90)


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    await ensure_report_mail_indexes(database)
    await ensure_invitation_mail_indexes(database)
    await database[EVENT_MAILS].create_index(
        [("tenant_id", ASCENDING), ("event_id", ASCENDING), ("registration_id", ASCENDING)]
    )
    await database[RECIPIENTS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )
    # Whose address a hand-made suppression is (multikey: one entry per address).
    await database[RECIPIENTS].create_index([("tenant_id", ASCENDING), ("email_sha256", ASCENDING)])
    await database[CUSTOM_FIELDS].create_index(
        [("tenant_id", ASCENDING), ("key", ASCENDING)], unique=True
    )
    await database[TEMPLATES].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await ensure_merged_id_indexes(database[MERGED_CANDIDATES])
    await database[SEQUENCES].create_index(
        [("tenant_id", ASCENDING), ("trigger.type", ASCENDING), ("trigger.segment_id", ASCENDING)]
    )
    enrolments = database[ENROLMENTS]
    # Re-entry replaced "one enrolment per candidate and sequence" by one per entry.
    with contextlib.suppress(OperationFailure):  # a database created since never had it
        await enrolments.drop_index(_SINGLE_ENROLMENT_INDEX)
    await enrolments.create_index(
        [
            ("tenant_id", ASCENDING),
            ("sequence_id", ASCENDING),
            ("candidate_id", ASCENDING),
            ("entry", DESCENDING),
        ],
        unique=True,
    )
    await enrolments.create_index([("status", ASCENDING), ("next_run_at", ASCENDING)])
    await enrolments.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    # A sequence's enrolments listed page by page.
    await enrolments.create_index(
        [("tenant_id", ASCENDING), ("sequence_id", ASCENDING), ("_id", ASCENDING)]
    )
    await database[POOL_MEMBERS].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await database[LIST_MEMBERS].create_index(
        [("tenant_id", ASCENDING), ("list_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await database[BROADCASTS].create_index([("status", ASCENDING)])
    await database[BLOCKS].create_index([("tenant_id", ASCENDING), ("key", ASCENDING)], unique=True)
    await database[BROADCAST_RECIPIENTS].create_index(
        [("tenant_id", ASCENDING), ("broadcast_id", ASCENDING), ("group", ASCENDING)]
    )
    await database[ATS_APPLICATIONS].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("ats_application_id", ASCENDING)],
        unique=True,
    )
    await database[ATS_APPLICATIONS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)]
    )
    for moved in (
        enrolments,
        database[MESSAGES],
        database[ATS_APPLICATIONS],
        database[SIGNALS],
        database[NOTIFICATIONS],
    ):
        # Undoing a merge finds what it moved.
        await moved.create_index([("tenant_id", ASCENDING), ("merges.merge_id", ASCENDING)])
    await database[SEGMENT_MEMBERS].create_index(
        [("tenant_id", ASCENDING), ("segment_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await database[SEGMENT_ENROLMENT_GUARDS].create_index(
        [("tenant_id", ASCENDING), ("segment_id", ASCENDING)], unique=True
    )
    messages = database[MESSAGES]
    await messages.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
    await messages.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await messages.create_index(
        [("tenant_id", ASCENDING), ("broadcast_id", ASCENDING), ("status", ASCENDING)]
    )
    # A broadcast's or a sequence's messages listed page by page (`GET /messages`).
    await messages.create_index(
        [("tenant_id", ASCENDING), ("broadcast_id", ASCENDING), ("_id", ASCENDING)]
    )
    await messages.create_index(
        [("tenant_id", ASCENDING), ("sequence_id", ASCENDING), ("_id", ASCENDING)]
    )
    # The mail a contact policy holds, walked by id when the policy changes (policy_release).
    await messages.create_index(
        [
            ("tenant_id", ASCENDING),
            ("status", ASCENDING),
            ("policy_reason", ASCENDING),
            ("_id", ASCENDING),
        ]
    )
    await database[SIGNALS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("kind", ASCENDING)]
    )
    # No branch window is longer than a year: older signals can never decide one.
    await database[SIGNALS].create_index("at", expireAfterSeconds=SIGNAL_RETENTION_SECONDS)
    await database[NOTIFICATIONS].create_index(
        [
            ("tenant_id", ASCENDING),
            ("user_id", ASCENDING),
            ("created_at", ASCENDING),
            ("_id", ASCENDING),
        ]
    )
    # A merge re-keys the merged record's notifications to the survivor.
    await database[NOTIFICATIONS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)]
    )
    suppressions = database[SUPPRESSIONS]
    await suppressions.create_index(
        [("tenant_id", ASCENDING), ("email_sha256", ASCENDING), ("reason", ASCENDING)],
        unique=True,
    )
    await suppressions.create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await suppressions.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    for per_tenant in (CONTACT_POLICIES, GOVERNANCE_COUNTERS):
        await database[per_tenant].create_index([("tenant_id", ASCENDING)], unique=True)
    await database[CONTACT_LEDGER].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )
    await database[JOBS].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("ats_job_id", ASCENDING)],
        unique=True,
    )
    await database[JOBS].create_index(
        [("tenant_id", ASCENDING), ("status", ASCENDING), ("changed_at", DESCENDING)]
    )
    await database[SOFT_BOUNCES].create_index(
        [("tenant_id", ASCENDING), ("email_sha256", ASCENDING)], unique=True
    )
