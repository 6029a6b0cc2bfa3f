"""A keyword search over a tenant's candidates, as the use cases ask it of the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from crm_candidates.domain.identity import MIN_PREFIX_LENGTH, query_tokens
from crm_candidates.domain.profile import SkillVocabulary

# A query word's other meanings: each the words of a canonical skill, all held as whole words.
Alternatives = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SearchQuery:
    """A keyword search with filters, one page at a time."""

    tokens: list[str]
    # Normalised as segment facets are ("q1 shortlist"), matched against `facets.tags`.
    tags: list[str]
    skills: list[str]
    source: str | None
    owner_id: str | None
    sort: str
    after: tuple[Any, str] | None
    limit: int
    # Set by an exact lookup (email, phone): only these records can match.
    candidate_ids: list[str] | None = None
    # The place's folded words (`identity.place_words`): a record whose location holds every
    # one matches ("montreal" finds "Montréal, QC").
    location: list[str] = field(default_factory=list)
    # In this pool (at this stage, when given).
    pool_id: str | None = None
    stage: str | None = None
    segment_id: str | None = None
    marketing_consent: bool | None = None
    min_engagement: float | None = None
    # A token typed with a German umlaut -> its spelling with the umlaut spelt out: a record
    # holding either matches it (`identity.query_spellings`).
    spellings: dict[str, str] = field(default_factory=dict)
    # A token that is a spelling of a vocabulary skill -> that skill's words: a record holding
    # them all (as whole words) matches it too (`query_synonyms`).
    synonyms: dict[str, Alternatives] = field(default_factory=dict)


def _implies(word: str, token: str) -> bool:
    """Whether a record holding the whole word `word` holds the query token `token` (a word
    is indexed with its prefixes from two letters on, a one-letter token matches itself)."""
    return word == token or (len(token) >= MIN_PREFIX_LENGTH and word.startswith(token))


def query_synonyms(tokens: Iterable[str], vocabulary: SkillVocabulary) -> dict[str, Alternatives]:
    """The query tokens that spell a skill of the tenant's vocabulary other than as typed, each
    with the words of its canonical skill(s): `js` -> `((javascript,),)`, `nodejs` ->
    `((node, js),)`. Skills are stored in the canonical spelling, so a recruiter typing a
    synonym would otherwise find only the records whose name or title holds it.

    Left out where the typed token already finds every holder of the skill: the token is a
    word of it or a word's beginning (`spark` for `apache spark`, `py` for `python`)."""
    found: dict[str, Alternatives] = {}
    for token in tokens:
        alternatives: list[tuple[str, ...]] = []
        for canonical in vocabulary.canonicals_of_word(token):
            words = tuple(query_tokens(canonical))
            if words and words not in alternatives and not any(_implies(w, token) for w in words):
                alternatives.append(words)
        if alternatives:
            found[token] = tuple(alternatives)
    return found


def holds_alternative(
    tokens: set[str], skills: list[str], words: Callable[[], set[str]], alternatives: Alternatives
) -> bool:
    """Whether a record with these search tokens, skills and whole words holds every word of
    one of `alternatives`. `words` (folding every text of the record, the costly part) is
    asked only where tokens and skills do not settle it: a record without one of the words
    among its tokens cannot hold it, one holding the skill spelt as the words holds them.

    Whole words, not beginnings: `golang` means the skill `go`, not everyone at Google."""
    possible = [a for a in alternatives if all(word in tokens for word in a)]
    if not possible:
        return False
    if any(" ".join(alternative) in skills for alternative in possible):
        return True
    held = words()
    return any(all(word in held for word in alternative) for alternative in possible)
