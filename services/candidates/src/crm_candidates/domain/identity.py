"""Identity resolution: the keys that say two records are one person, and fuzzy likeness.

Pure functions only. An identity key is a normalised identifier with its kind
(`email:ada@example.org`, `phone:4915112345678`, `url:linkedin.com/in/ada`); the service keeps
one document per key and tenant under a unique index, so two records can never hold the same
key. Fuzzy matching compares names with company or location and explains each suggestion.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from crm_shared import normalise_email
from crm_shared.text import fold, umlauts_spelt_out, without_apostrophes

EMAIL_KEY = "email"
PHONE_KEY = "phone"
URL_KEY = "url"

# Fewer digits than this cannot tell people apart (extensions, short codes, typos).
MIN_PHONE_DIGITS = 7
# Names at least this alike (0-100) are candidates for a duplicate suggestion.
NAME_SIMILARITY_THRESHOLD = 85.0
# Company or location at least this alike count as "the same".
CONTEXT_SIMILARITY_THRESHOLD = 85.0


class IdentityTakenError(Exception):
    """Another candidate of the tenant already holds one of the identifiers."""

    def __init__(self, existing_id: str | None, key: str | None = None) -> None:
        super().__init__("another candidate already holds this identifier")
        self.existing_id = existing_id
        self.key = key


# Share of the score carried by the name when a company or location backs it up.
NAME_WEIGHT = 0.6
# A name alone is weak evidence: its similarity is scaled down by this factor.
NAME_ONLY_WEIGHT = 0.6
# Length of the last-name prefix used as a blocking key.
BLOCK_PREFIX_LENGTH = 3
# Search tokens are indexed with their prefixes from this length on (and up to the cap).
MIN_PREFIX_LENGTH = 2
MAX_PREFIX_LENGTH = 20

_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}
# Folded ASCII text: words are a-z and digits, with `+` and `#` kept for `c++` and `c#`.
_ASCII_TOKEN_SPLIT = re.compile(r"[^0-9a-z+#]+")
_KEPT_SIGNS = frozenset("+#")


def phone_digits(phone: str) -> str | None:
    """A phone number reduced to its digits, or None if too short to identify anyone."""
    digits = "".join(char for char in phone if char.isdigit())
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def canonical_profile_url(url: str) -> str | None:
    """A profile URL without scheme, `www.`, query, fragment and trailing slash, lower-cased.

    `https://www.LinkedIn.com/in/Ada/?trk=x` and `linkedin.com/in/ada` are the same profile.
    """
    text = url.strip()
    if not text:
        return None
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower().removeprefix("www.")
    if not host or "." not in host:
        return None
    path = parts.path.rstrip("/").lower()
    return f"{host}{path}"


def identity_keys(
    emails: Iterable[str], phones: Iterable[str] = (), profile_urls: Iterable[str] = ()
) -> list[str]:
    """The identity keys of a person's identifiers, without repeats, in a stable order."""
    keys: list[str] = []
    keys.extend(f"{EMAIL_KEY}:{normalise_email(email)}" for email in emails if email.strip())
    keys.extend(f"{PHONE_KEY}:{digits}" for phone in phones if (digits := phone_digits(phone)))
    keys.extend(f"{URL_KEY}:{url}" for raw in profile_urls if (url := canonical_profile_url(raw)))
    return list(dict.fromkeys(keys))


# How each kind of identifier a record holds becomes its identity keys, by field name.
IDENTIFIER_KEYS: dict[str, Callable[[str], list[str]]] = {
    "emails": lambda value: identity_keys([value]),
    "phones": lambda value: identity_keys([], [value]),
    "profile_urls": lambda value: identity_keys([], [], [value]),
}


def phones_held(phones: Iterable[str], held: Collection[str]) -> list[str]:
    """The numbers of `phones` whose identity key is among `held` (another record's)."""
    return [phone for phone in phones if not set(identity_keys([], [phone])).isdisjoint(held)]


def key_kind(key: str) -> str:
    """The kind of an identity key: `email`, `phone` or `url`."""
    return key.partition(":")[0]


def soundex(word: str) -> str:
    """The American Soundex code of a word (`Robert` and `Rupert` are both R163); '' if none."""
    letters = [char for char in fold(word) if "a" <= char <= "z"]
    if not letters:
        return ""
    first = letters[0]
    code = first.upper()
    previous = _SOUNDEX_CODES.get(first, "")
    for char in letters[1:]:
        digit = _SOUNDEX_CODES.get(char, "")
        if digit and digit != previous:
            code += digit
        if char not in "hw":
            previous = digit
    return (code + "000")[:4]


def block_keys(last_name: str) -> list[str]:
    """Indexed keys that bring likely duplicates together: last-name prefix and Soundex code.

    A suggestion is only searched among records sharing one of these keys, so finding
    duplicates reads a handful of records rather than the whole tenant.
    """
    folded = "".join(fold(last_name).split())
    keys = []
    if folded:
        keys.append(f"ln:{folded[:BLOCK_PREFIX_LENGTH]}")
    if code := soundex(folded):
        keys.append(f"sx:{code}")
    return keys


# The key of a word beginning with `a`, `o` or `u` (`_umlaut_key`): marked by a sign no query
# word holds, so no typed word ever matches it.
UMLAUT_KEY_MARK = "~"
_SPELT_OUT_UMLAUT = re.compile(r"([aou])e")


def _umlaut_key(word: str) -> str | None:
    """`~` and the first two letters of a folded word beginning with `a`, `o` or `u`, with
    `ae`, `oe`, `ue` read as `a`, `o`, `u`: the key `Özil`, `Ozil` and `Oezil` share (`~oz`).
    A query word beginning with an umlaut has no other token all its spellings' records hold
    (`o` and `oe` are no tokens): the search walks the index for this key."""
    if word[:1] not in ("a", "o", "u"):
        return None
    # Four letters give two once `ae`, `oe`, `ue` are read as one; a pair cut at the fourth
    # letter only drops an `e` after them.
    neutral = _SPELT_OUT_UMLAUT.sub(r"\1", word[:4])
    return UMLAUT_KEY_MARK + neutral[:2] if len(neutral) >= MIN_PREFIX_LENGTH else None


def term_seed(token: str, spelling: str) -> str | None:
    """The one indexed token every record matching `token` or its umlaut spelling `spelling`
    holds: their common beginning (`muller`, `mueller`: `mu`), or for a word beginning with
    an umlaut (`ozil`, `oezil`) its `_umlaut_key`; None if they have none."""
    common = 0
    while common < min(len(token), len(spelling)) and token[common] == spelling[common]:
        common += 1
    if common >= MIN_PREFIX_LENGTH:
        return token[:common]
    key = _umlaut_key(token)
    return key if key is not None and key == _umlaut_key(spelling) else None


def query_spellings(text: str) -> dict[str, str]:
    """The query words typed with a German umlaut, each folded (`müller` -> `muller`) with its
    spelling with the umlaut spelt out (`mueller`): a record with either word matches it, as
    a German recruiter means `Müller` to find `Mueller` too. Not for a one-letter word, nor
    where the word is also typed without the umlaut (it must match as typed there)."""
    folded = _words(fold(text))
    spelt = _words(fold(umlauts_spelt_out(text)))
    if len(folded) != len(spelt):  # spelling out changes letters only, never word breaks
        return {}
    pairs = [
        (f[:MAX_PREFIX_LENGTH], s[:MAX_PREFIX_LENGTH]) for f, s in zip(folded, spelt, strict=True)
    ]
    plain = {f for f, s in pairs if f == s}
    return {
        f: s
        for f, s in pairs
        if f != s and f not in plain and len(f) >= MIN_PREFIX_LENGTH and term_seed(f, s)
    }


def search_tokens(texts: Iterable[str | None]) -> list[str]:
    """Folded words of `texts` and their prefixes, for keyword search over an ordinary index."""
    tokens: set[str] = set()
    for text in texts:
        # `O'Connor` is found by `o connor`, `connor` and `oconnor`; `Müller` by `muller`
        # and `mueller`.
        words = query_tokens(text or "") + query_tokens(without_apostrophes(text or ""))
        spelt_out = umlauts_spelt_out(text or "")
        if spelt_out != (text or ""):  # every candidate write tokenises: no pass for nothing
            words += query_tokens(spelt_out)
        for word in words:
            tokens.update(
                word[:length]
                for length in range(min(MIN_PREFIX_LENGTH, len(word)), len(word) + 1)
                if length <= MAX_PREFIX_LENGTH
            )
            if (key := _umlaut_key(word)) is not None:
                tokens.add(key)
    return sorted(tokens)


def place_words(text: str | None) -> list[str]:
    """The folded whole words of a place as typed, with each umlaut spelt out too: what a
    location filter matches, so `montreal` finds Montréal, `zuerich` Zürich and `berlin` a
    record in "Berlin, Germany"."""
    words = query_tokens(text or "") + query_tokens(umlauts_spelt_out(text or ""))
    return sorted(set(words))


def place_query_words(text: str | None) -> list[str]:
    """The words a location filter asks for: folded, each umlaut spelt out (a record of
    "München" holds `muenchen` as well as `munchen`, one of "Muenchen" only `muenchen`)."""
    return query_tokens(umlauts_spelt_out(text or ""))


def search_words(texts: Iterable[str | None]) -> set[str]:
    """The whole folded words of `texts` (no prefixes): what a synonym's canonical skill is
    checked against (`search.holds_alternative`)."""
    return {word for text in texts for word in query_tokens(text or "")}


def query_tokens(text: str) -> list[str]:
    """The folded words of a search query (each must match a word or a word's prefix)."""
    words = _words(fold(text))
    return list(dict.fromkeys(word[:MAX_PREFIX_LENGTH] for word in words))


def _words(folded: str) -> list[str]:
    """The words of folded text: letters of any script (Greek, Cyrillic, CJK, Devanagari with
    its vowel signs) and digits, with `+` and `#`; anything else, `_` included, separates."""
    if folded.isascii():
        return [word for word in _ASCII_TOKEN_SPLIT.split(folded) if word]
    words: list[str] = []
    word: list[str] = []
    for char in folded:
        if char.isalnum() or char in _KEPT_SIGNS or unicodedata.category(char).startswith("M"):
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return words


@dataclass(frozen=True)
class PersonSketch:
    """What fuzzy matching compares: name, company, location."""

    first_name: str
    last_name: str
    company: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Likeness:
    """How alike two records are (0-100) and why, in words; `evidence`: how many of name,
    company and location are alike (what orders suggestions of the same score)."""

    score: float
    reason: str
    evidence: int = 1


def _alike(left: str | None, right: str | None) -> float | None:
    if not left or not right:
        return None
    return float(fuzz.ratio(fold(left), fold(right)))


def _describe(similarity: float, what: str) -> str:
    return f"same {what}" if similarity >= 100 else f"similar {what}"


def someone_else_on_a_shared_phone(
    matched_kinds: set[str],
    emails: list[str],
    held_emails: list[str],
    name: tuple[str, str],
    held_name: tuple[str, str],
) -> bool:
    """Whether a record found by phone number alone is another person's: both have e-mail
    addresses, none in common (no e-mail key matched), and their names are not alike. A
    family's or an office's shared number, not one person with a new address: such a row is
    not merged into the record (`key_kind` of the matched keys in `matched_kinds`)."""
    if matched_kinds != {PHONE_KEY} or not emails or not held_emails:
        return False
    similarity = fuzz.token_sort_ratio(fold(" ".join(name)), fold(" ".join(held_name)))
    return float(similarity) < NAME_SIMILARITY_THRESHOLD


def likeness(one: PersonSketch, other: PersonSketch) -> Likeness | None:
    """How likely two records are one person, from name plus company or location.

    None when the names are not alike enough to suggest anything.
    """
    name = float(
        fuzz.token_sort_ratio(
            fold(f"{one.first_name} {one.last_name}"), fold(f"{other.first_name} {other.last_name}")
        )
    )
    if name < NAME_SIMILARITY_THRESHOLD:
        return None
    reasons = [_describe(name, "name")]
    company = _alike(one.company, other.company)
    location = _alike(one.location, other.location)
    backing = [
        (similarity, what)
        for similarity, what in ((company, "company"), (location, "location"))
        if similarity is not None and similarity >= CONTEXT_SIMILARITY_THRESHOLD
    ]
    if not backing:
        return Likeness(score=round(name * NAME_ONLY_WEIGHT, 1), reason=reasons[0])
    reasons.extend(_describe(similarity, what) for similarity, what in backing)
    context = max(similarity for similarity, _ in backing)
    score = NAME_WEIGHT * name + (1 - NAME_WEIGHT) * context
    return Likeness(score=round(score, 1), reason=", ".join(reasons), evidence=len(reasons))
