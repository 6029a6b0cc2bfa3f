"""Normalisation of the profile fields a candidate write carries, as pure functions.

Every write path (the API's create and change, consumers, imports) runs its fields through
`normalise_profile_fields`, so a phone, a URL or a skill is stored in one canonical form whoever
wrote it. A value that cannot be normalised is reported with the path of the field
(`phones.1`, `time_zone`, `custom_fields.level`) rather than stored as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import phonenumbers

from crm_candidates.domain.custom_fields import CustomFieldDefinition, validate_custom_fields
from crm_candidates.domain.models import ProfileError, normalise_skill, unique_in_order
from crm_shared import normalise_email, valid_time_zone
from crm_shared.text import fold

DEFAULT_PHONE_REGION = "US"
MIN_UNLISTED_NATIONAL_DIGITS = 6

# Query parameters that only say where a link was clicked, never which profile it is.
TRACKING_PARAMETERS = frozenset(
    {"fbclid", "gclid", "mc_cid", "mc_eid", "igshid", "ref", "ref_src", "trk", "trkinfo", "si"}
)
TRACKING_PREFIXES = ("utm_",)
# Sites whose profile path is `/<prefix>/<handle>` (or `/<handle>`); anything after the handle
# (tabs, locale suffixes, `/detail/...`) is a view of the same profile.
PROFILE_SITES: dict[str, tuple[str, ...]] = {
    "linkedin.com": ("in", "pub", "company", "school"),
    "github.com": (),
    "gitlab.com": (),
    "x.com": (),
    "twitter.com": (),
    "stackoverflow.com": ("users",),
}
PROFILE_HOST_ALIASES = {"twitter.com": "x.com"}
LOCALE_PATTERN = re.compile(r"^([a-zA-Z]{2,3})(?:[-_]([a-zA-Z]{4}))?(?:[-_]([a-zA-Z]{2}|\d{3}))?$")
# Skill keys ignore case, spacing and the punctuation people vary ("Node.js", "node js").
_SKILL_KEY_DROPPED = str.maketrans("", "", " \t\n\r\f\v\u00a0-_.")


def normalise_phone(raw: str, default_region: str) -> str:
    """A phone number in E.164 (`+4915112345678`); national formats read in `default_region`.

    Raises `ValueError` for text that is not a possible phone number in that region.
    """
    try:
        number = phonenumbers.parse(raw, default_region.upper(), keep_raw_input=True)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{raw!r} is not a phone number") from None
    # Valid, or at least possible with a plausible length: numbering plans change faster than
    # the library's metadata, and a real but unlisted number must not be refused.
    plausible = phonenumbers.is_possible_number(number) and (
        len(str(number.national_number)) >= MIN_UNLISTED_NATIONAL_DIGITS
    )
    if not (phonenumbers.is_valid_number(number) or plausible):
        if number.country_code_source not in _FROM_REGION:
            # It gave its country code: the region national numbers are read in is beside
            # the point, the digits after the code are not a number there.
            raise ValueError(
                f"{raw!r} is not a possible phone number: too few or too many digits after "
                f"the country code +{number.country_code}"
            )
        raise ValueError(
            f"{raw!r} is not a possible phone number (national numbers are read as "
            f"{default_region.upper()}; give the country code, e.g. +49)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# E.164 allows at most 15 digits; a number kept as typed must have a plausible length too.
MAX_PHONE_DIGITS = 15
# How a number's country code was found: these two mean it was the default region's.
_FROM_REGION = frozenset(
    {
        phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY,
        phonenumbers.CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN,
    }
)


@dataclass(frozen=True)
class PhoneReading:
    """How an imported phone number was read.

    `number` is E.164, except when `as_typed`: a number without a country code that is not
    valid in the region it was read in is given as written (spacing collapsed), since turning
    it into that region's E.164 would make a wrong number; an import leaves it out.
    `assumed_region` is that region whenever the number gave no country code of its own.
    """

    number: str
    assumed_region: str | None = None
    as_typed: bool = False


def read_phone(raw: str, default_region: str) -> PhoneReading:
    """An imported phone number: E.164 if it has a country code (`+351 ...`, `00351 ...`) or is
    valid in `default_region`, else as typed; says whether the region was assumed.

    Raises `ValueError` for text that is no phone number (as `normalise_phone`).
    """
    region = default_region.upper()
    try:
        number = phonenumbers.parse(raw, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{raw!r} is not a phone number") from None
    if number.country_code_source not in _FROM_REGION:
        return PhoneReading(normalise_phone(raw, region))
    if phonenumbers.is_valid_number(number):
        return PhoneReading(
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region
        )
    digits = sum(char.isdigit() for char in raw)
    if not MIN_UNLISTED_NATIONAL_DIGITS <= digits <= MAX_PHONE_DIGITS:
        raise ValueError(
            f"{raw!r} is not a possible phone number (national numbers are read as "
            f"{region}; give the country code, e.g. +49)"
        )
    return PhoneReading(" ".join(raw.split()), region, as_typed=True)


def is_phone_region(region: str) -> bool:
    """Whether `region` is a two-letter region phone numbers can be read in (`DE`, `US`)."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def canonical_profile_url(raw: str) -> str:
    """The canonical form of a profile URL, so one profile has one URL.

    https, lower-case host without `www.`/`m.`, no fragment, no tracking parameters, no trailing
    slash; on known profile sites only the profile's own path (`linkedin.com/in/<handle>`).
    Raises `ValueError` for text that is not a web address.
    """
    text = raw.strip()
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        text = "https://" + text
    parts = urlsplit(text)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
    ):
        raise ValueError(f"{raw!r} is not a web address")
    host = parts.hostname.lower().rstrip(".")
    for prefix in ("www.", "m.", "mobile."):
        host = host.removeprefix(prefix)
    if "." not in host or " " in host:
        raise ValueError(f"{raw!r} is not a web address (no valid host)")
    host = PROFILE_HOST_ALIASES.get(host, host)
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name.lower() not in TRACKING_PARAMETERS
        and not name.lower().startswith(TRACKING_PREFIXES)
    ]
    site = _profile_site(host)
    if site is not None:
        path = _profile_path(path, PROFILE_SITES[site])
        query = []
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return urlunsplit(("https", host + port, path, urlencode(query), ""))


def _profile_site(host: str) -> str | None:
    for site in PROFILE_SITES:
        if host == site or host.endswith("." + site):
            return site
    return None


def _profile_path(path: str, prefixes: tuple[str, ...]) -> str:
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return ""
    if not prefixes:
        return "/" + segments[0].lower()
    if len(segments) >= 2 and segments[0].lower() in prefixes:
        return f"/{segments[0].lower()}/{segments[1].lower()}"
    return "/" + "/".join(segments)


def normalise_locale(raw: str) -> str:
    """A BCP 47 language tag in its usual case: `en`, `pt-BR`, `zh-Hant-TW`."""
    match = LOCALE_PATTERN.match(raw.strip())
    if match is None:
        raise ValueError(f"{raw!r} is not a language tag such as en or pt-BR")
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def profile_locale(raw: str | None) -> str | None:
    """A language tag as a profile keeps it, or None for none or one that is no language tag
    (a browser may send anything)."""
    if raw is None:
        return None
    try:
        return normalise_locale(raw)
    except ValueError:
        return None


def skill_key(skill: str) -> str:
    """What two spellings of one skill share: `Java Script`, `javascript`, `JAVA-SCRIPT`."""
    return skill.translate(_SKILL_KEY_DROPPED).lower()


@dataclass(frozen=True)
class SkillVocabulary:
    """A tenant's canonical skills and the synonyms that map to each."""

    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    _index: dict[str, str] = field(init=False, repr=False, compare=False)

    @classmethod
    def build(cls, entries: Iterable[tuple[str, Iterable[str]]]) -> SkillVocabulary:
        """A vocabulary from (canonical, synonyms) pairs; raises `ProfileError` on a clash.

        Error paths are `skills.<i>.canonical` / `skills.<i>.synonyms.<j>`: a spelling may map
        to one canonical skill only.
        """
        claimed: dict[str, int] = {}
        errors: list[tuple[str, str]] = []
        synonyms: dict[str, tuple[str, ...]] = {}
        for index, (canonical, variants) in enumerate(entries):
            name = normalise_skill(canonical)
            if not skill_key(name):
                errors.append((f"skills.{index}.canonical", "a skill needs a name"))
                continue
            kept: list[str] = []
            spellings = [(f"skills.{index}.canonical", name)] + [
                (f"skills.{index}.synonyms.{position}", normalise_skill(variant))
                for position, variant in enumerate(variants)
            ]
            for path, spelling in spellings:
                key = skill_key(spelling)
                if not key:
                    errors.append((path, "a synonym cannot be blank"))
                elif key in claimed and claimed[key] != index:
                    errors.append(
                        (path, f"{spelling!r} already maps to skill {claimed[key]} of the list")
                    )
                else:
                    claimed[key] = index
                    if spelling != name and spelling not in kept:
                        kept.append(spelling)
            synonyms[name] = tuple(kept)
        if errors:
            raise ProfileError(errors)
        return cls(synonyms)

    def normalise(self, skills: Iterable[str]) -> list[str]:
        """Each skill in canonical form, repeats dropped, first order kept."""
        return unique_in_order([self.spelling(skill) for skill in skills])

    def spelling(self, skill: str) -> str:
        """One skill in canonical form (`JS` -> `javascript`), as candidates' skills are stored."""
        return self._index.get(skill_key(skill), normalise_skill(skill))

    def canonicals_of_word(self, word: str) -> tuple[str, ...]:
        """The canonical skills a folded search word is a spelling of (`js` -> `javascript`,
        `nodejs` -> `node.js`), compared as spellings are (`skill_key`) once folded as search
        words are; usually one, none for a word the vocabulary does not know."""
        return self._search_words.get(word, ())

    @cached_property
    def _search_words(self) -> dict[str, tuple[str, ...]]:
        # Built on the first search, once per vocabulary object: the repository keeps one per
        # tenant and version, so a search looks a word up in a dict. Folding can make two
        # spellings of different skills one word (`résumé`, `resume`): it then names both.
        words: dict[str, list[str]] = {}
        for name, variants in self.synonyms.items():
            for spelling in (name, *variants):
                named = words.setdefault(fold(skill_key(spelling)), [])
                if name not in named:
                    named.append(name)
        return {word: tuple(names) for word, names in words.items()}

    def __post_init__(self) -> None:
        # Built once per vocabulary (it is read with every candidate write), not per skill.
        index: dict[str, str] = {}
        for name, variants in self.synonyms.items():
            for spelling in (name, *variants):
                index[skill_key(spelling)] = name
        object.__setattr__(self, "_index", index)


@dataclass(frozen=True)
class ProfileRules:
    """What normalising one tenant's profile fields depends on."""

    phone_region: str = DEFAULT_PHONE_REGION
    vocabulary: SkillVocabulary = field(default_factory=SkillVocabulary)
    custom_fields: Mapping[str, CustomFieldDefinition] = field(default_factory=dict)
    # Keys of deleted custom fields: the values candidates hold are kept, new ones refused.
    archived_custom_fields: frozenset[str] = frozenset()
    # The region the import or the tenant's settings name (`phone_region` falls back to a
    # platform default): what an import reads ambiguous dates by.
    named_region: str | None = None


def _text_or_none(value: Any) -> Any:
    if isinstance(value, str):
        value = " ".join(value.split())
        return value or None
    return value


def normalise_profile_fields(
    fields: Mapping[str, Any],
    rules: ProfileRules,
    *,
    current_custom_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The given profile fields in canonical form; raises `ProfileError` naming each bad one.

    Only the fields present are normalised, so this serves a creation (every field) and a
    partial change alike. `custom_fields` of a change is merged into `current_custom_fields`
    (a null value removes a key) and the result validated as a whole; on creation
    (`current_custom_fields` is None) the given values are the whole set.
    """
    normalised: dict[str, Any] = dict(fields)
    errors: list[tuple[str, str]] = []
    if fields.get("emails") is not None:
        normalised["emails"] = unique_in_order([normalise_email(e) for e in fields["emails"]])
    if fields.get("phones") is not None:
        phones: list[str] = []
        for index, raw in enumerate(fields["phones"]):
            try:
                phones.append(normalise_phone(raw, rules.phone_region))
            except ValueError as invalid:
                errors.append((f"phones.{index}", str(invalid)))
        normalised["phones"] = unique_in_order(phones)
    if fields.get("profile_urls") is not None:
        urls: list[str] = []
        for index, raw in enumerate(fields["profile_urls"]):
            try:
                urls.append(canonical_profile_url(raw))
            except ValueError as invalid:
                errors.append((f"profile_urls.{index}", str(invalid)))
        normalised["profile_urls"] = unique_in_order(urls)
    if fields.get("time_zone") is not None:
        try:
            normalised["time_zone"] = valid_time_zone(fields["time_zone"])
        except ValueError as invalid:
            errors.append(("time_zone", str(invalid)))
    if fields.get("locale") is not None:
        try:
            normalised["locale"] = normalise_locale(fields["locale"])
        except ValueError as invalid:
            errors.append(("locale", str(invalid)))
    if fields.get("skills") is not None:
        normalised["skills"] = rules.vocabulary.normalise(fields["skills"])
    for listed in ("tags", "desired_roles"):
        if fields.get(listed) is not None:
            normalised[listed] = unique_in_order([_text_or_none(v) or "" for v in fields[listed]])
    for text in ("headline", "current_title", "current_company", "location", "seniority"):
        if text in fields:
            normalised[text] = _text_or_none(fields[text])
    if "custom_fields" in fields:
        changes = dict(fields["custom_fields"] or {})
        archived = rules.archived_custom_fields
        errors.extend(
            (f"custom_fields.{key}", "this custom field was deleted; it takes no new values")
            for key, value in changes.items()
            if key in archived and value is not None
        )
        given = {**(current_custom_fields or {}), **changes}
        kept = {k: v for k, v in given.items() if k in archived and v is not None}
        live = {k: v for k, v in given.items() if k not in archived and v is not None}
        try:
            validated = validate_custom_fields(live, rules.custom_fields)
            normalised["custom_fields"] = validated | kept
        except ProfileError as invalid:
            errors.extend(invalid.errors)
    if errors:
        raise ProfileError(errors)
    return normalised


def changed_tags(tags: list[str], *, add: Iterable[str], remove: Iterable[str]) -> list[str]:
    """`tags` with `add` appended and `remove` taken out, both matched ignoring case and spacing."""
    removed = {normalise_skill(tag) for tag in remove}
    kept = [tag for tag in tags if normalise_skill(tag) not in removed]
    present = {normalise_skill(tag) for tag in kept}
    for tag in add:
        cleaned = " ".join(tag.split())
        if (
            cleaned
            and normalise_skill(cleaned) not in present
            and normalise_skill(cleaned) not in removed
        ):
            kept.append(cleaned)
            present.add(normalise_skill(cleaned))
    return kept
