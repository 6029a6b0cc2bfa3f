"""The MongoDB collections of the candidates service, and the bookkeeping fields the segment
machinery keeps beside a candidate.
"""

from __future__ import annotations

from crm_candidates.domain.segments import SEGMENT_IDS

CANDIDATES_COLLECTION = "candidates"
SEGMENTS_COLLECTION = "segments"
MEMBERSHIPS_COLLECTION = "segment_memberships"
# One re-normalisation of stored skills per tenant: the latest vocabulary's.
SKILL_RENORMALISATIONS_COLLECTION = "skill_renormalisations"
# What campaigns' sequences depend on, projected from `sequence.saved`.
SEQUENCE_REFERENCES_COLLECTION = "sequence_references"
PROFILE_SETTINGS_COLLECTION = "profile_settings"
SKILL_VOCABULARIES_COLLECTION = "skill_vocabularies"
CUSTOM_FIELDS_COLLECTION = "custom_fields"
NOTES_COLLECTION = "candidate_notes"
POOLS_COLLECTION = "pools"
POOL_MEMBERSHIPS_COLLECTION = "pool_memberships"
POOL_STAGE_CHANGES_COLLECTION = "pool_stage_changes"
IDENTITIES_COLLECTION = "candidate_identities"
MERGES_COLLECTION = "candidate_merges"
TIMELINE_COLLECTION = "timeline"
# Kept by the segment machinery beside the candidate, never part of the model: the ids of
# the segments it is in, when a relative date changes one of its memberships next, and when a
# write last evaluated it against the tenant's segments (a new segment's catch-up finds the
# writes whose transactions did not see it by this).
RECHECK_AT = "segments_recheck_at"
EVALUATED_AT = "segments_evaluated_at"
SEGMENT_BOOKKEEPING = (SEGMENT_IDS, RECHECK_AT, EVALUATED_AT)
IMPORTS_COLLECTION = "candidate_imports"
IMPORT_ERRORS_COLLECTION = "candidate_import_errors"
# Which record each merged row of an import ended on (row number -> candidate id).
IMPORT_MERGED_ROWS_COLLECTION = "candidate_import_merged_rows"
