"""Folding text for matching: the form two spellings of one name share."""

from __future__ import annotations

import unicodedata
from typing import Any

# Letters that carry no combining mark to drop, spelled as they are without the keyboard for
# them: a recruiter types `lukasiewicz` for Łukasiewicz, `sorensen` for Sørensen.
_PLAIN_SPELLING = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L",
     "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "\u0131": "i", "ħ": "h",
     "Ħ": "H", "ŧ": "t", "Ŧ": "T"}
)  # fmt: skip
# German umlauts spelt out, as a name is written without them (Müller as Mueller, Jörg as
# Joerg, in passports and e-mail addresses): a recruiter types either.
_UMLAUTS_SPELT_OUT = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}
)
# Apostrophes inside a name (O'Connor, the typographic ones too), which a search may leave out.
APOSTROPHES = "'\u2019\u2018\u02bc`"


def fold(text: str) -> str:
    """Lower-case text without accents and with single spaces, each letter spelled as on a
    plain keyboard: `  Zoë  Łukasiewicz-Þórsson` -> `zoe lukasiewicz-thorsson`; `ß` -> `ss`."""
    if text.isascii():  # the same result, without the per-letter pass (a search checks many)
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.translate(_PLAIN_SPELLING))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.casefold().split())


def without_apostrophes(text: str) -> str:
    """The text with the apostrophes inside names left out: `O'Connor` -> `OConnor`."""
    return text.translate(str.maketrans("", "", APOSTROPHES))


def umlauts_spelt_out(text: str) -> str:
    """The text with German umlauts written as two letters: `Müller` -> `Mueller`."""
    return unicodedata.normalize("NFC", text).translate(_UMLAUTS_SPELT_OUT)


def _how_well_written(text: str) -> tuple[int, bool, int]:
    """Diacritics kept, mixed rather than single case, and capitalised words: more is better."""
    accented = sum(1 for c in unicodedata.normalize("NFKD", text) if unicodedata.combining(c))
    accented += sum(1 for c in text if c in "ßæøœłđþÆØŒŁĐÞ")
    mixed_case = text != text.lower() and text != text.upper()
    capitalised = sum(1 for word in text.split() if word[:1].isupper())
    return accented, mixed_case, capitalised


def better_written(ours: Any, theirs: Any) -> bool:
    """Whether `theirs` is the same text as `ours` (`fold`ed alike) better written: with its
    diacritics ("Zoë" over "Zoe", "Groß" over "Gross") or its capitals ("Ada Lovelace" over
    "ada lovelace"), as a spreadsheet export often flattens names. A merge prefers it."""
    if not isinstance(ours, str) or not isinstance(theirs, str) or ours == theirs:
        return False
    if fold(ours) != fold(theirs):
        return False
    return _how_well_written(theirs) > _how_well_written(ours)
