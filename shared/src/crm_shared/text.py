"""Folding text for matching: the form two spellings of one name share."""

from __future__ import annotations

import unicodedata

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
