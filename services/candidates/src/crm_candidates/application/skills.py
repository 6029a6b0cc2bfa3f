"""Use case: after a skill vocabulary change, re-normalise the skills candidates already hold.

A synonym added later ("k8s" -> "kubernetes") must not leave the candidates stored before it
apart from those written after: segments on the canonical skill would miss them. The job walks
the tenant's records holding skills in id order, in batches, and rewrites those whose skills
the new vocabulary spells differently through the normal candidate writer, so each change is a
`candidate.updated` with its segment entries and exits. Its progress is stored per tenant; a
newer vocabulary replaces a running job, and a restart resumes one where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.domain.models import Candidate
from crm_candidates.domain.profile import SkillVocabulary
from crm_candidates.domain.segments import rule_with_skills_respelled
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.skill_renormalisations import (
    SkillRenormalisationRepository,
    unfinished_skill_renormalisations,
)
from crm_shared import Database, LatestTasks, MongoClient, Outbox, Session, in_transaction

BATCH = 200


class SkillRenormalisations:
    """Runs and resumes the re-normalisation jobs of every tenant, the latest one per tenant."""

    def __init__(self, mongo: MongoClient, database: Database, outbox: Outbox) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self._tasks = LatestTasks("skill re-normalisation")

    async def start(self, tenant_id: str, version: str) -> None:
        """Records and starts the job of the tenant's new vocabulary `version`."""
        await SkillRenormalisationRepository(self._database, tenant_id).start(version)
        self._tasks.start(tenant_id, partial(self._renormalise, tenant_id, version))

    async def resume_unfinished(self) -> None:
        for tenant_id, version in await unfinished_skill_renormalisations(self._database):
            self._tasks.start(tenant_id, partial(self._renormalise, tenant_id, version))

    async def wait_idle(self) -> None:
        await self._tasks.wait_idle()

    async def stop(self) -> None:
        await self._tasks.stop()

    async def _renormalise(self, tenant_id: str, version: str) -> None:
        jobs = SkillRenormalisationRepository(self._database, tenant_id)
        candidates = CandidateRepository(self._database, tenant_id)
        writer = CandidateWriter(
            self._mongo, self._outbox, candidates, SegmentRepository(self._database, tenant_id)
        )
        vocabulary = await ProfileRulesRepository(self._database, tenant_id).vocabulary()
        job = await jobs.get()
        after = job.get("after") if job else None
        while batch := await candidates.skills_after(after, limit=BATCH):
            respelled = {cid: vocabulary.normalise(skills) for cid, skills in batch}
            stale = {
                candidate_id: respelled[candidate_id]
                for candidate_id, skills in batch
                if respelled[candidate_id] != skills
            }

            async def rewrite(session: Session, stale: dict[str, list[str]] = stale) -> None:
                for candidate_id, skills in stale.items():
                    await writer.change_in(candidate_id, _with_skills(skills), session=session)

            if stale:
                await in_transaction(self._mongo, rewrite)
                self._outbox.notify_committed()
            after = batch[-1][0]
            if not await jobs.advance(version, after, len(batch), len(stale)):
                return  # a newer vocabulary took over
        await jobs.finish(version)


def _with_skills(skills: list[str]) -> Callable[[Candidate], Candidate]:
    def apply(current: Candidate) -> Candidate:
        return current.model_copy(update={"skills": skills})

    return apply


async def replace_vocabulary(
    mongo: MongoClient,
    profile_rules: ProfileRulesRepository,
    segments: SegmentRepository,
    jobs: SkillRenormalisations,
    vocabulary: SkillVocabulary,
) -> list[str]:
    """Stores the tenant's new skill vocabulary, re-spells the skill values of segment rules
    in the same transaction, and starts re-spelling the skills its candidates already hold (in
    the background); returns the names of the segments whose rules were re-spelled, sorted.

    A rule naming `spark` would otherwise match nobody once `spark` means `apache spark`, and
    the segment would silently shrink as the job re-spells its members. Rule and candidates go
    through the same vocabulary, so the membership stands: the rule is replaced, not
    recomputed, and each candidate the job re-spells is re-evaluated against it then.
    """
    respelled: list[str] = []

    async def store(session: Session) -> str:
        respelled.clear()
        version = await profile_rules.set_vocabulary(vocabulary, session=session)
        for segment in await segments.all(session=session):
            rule = rule_with_skills_respelled(segment.rule, vocabulary.spelling)
            if rule != segment.rule:
                await segments.replace_rule(segment.id, rule, session=session)
                respelled.append(segment.name)
        return version

    version = await in_transaction(mongo, store)
    await jobs.start(profile_rules.tenant_id, version)
    return sorted(respelled)
