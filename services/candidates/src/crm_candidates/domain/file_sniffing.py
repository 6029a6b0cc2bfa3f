"""What the first bytes of an uploaded file say before it is read as CSV text.

Two questions, both pure: is the file a spreadsheet or another binary file rather than CSV
(`not_csv_reason`), and, for bytes that are not UTF-8, which code page wrote them
(`guess_code_page`): Excel's "CSV" is Windows-1252 on a Western European Windows and
Windows-1250 on a Central European one (Polish, Czech, Slovak, Hungarian, Slovenian, Croatian,
Romanian), older systems write ISO-8859-2, and nothing in the file says which.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

_SAVE_AS_CSV = "save it as CSV (UTF-8) and upload that"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Other binary formats people pick by mistake, by their first bytes.
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (_OLE2_MAGIC, "This is an Excel 97-2003 workbook (.xls) or another Office file"),
    (b"%PDF-", "This is a PDF document"),
    (b"\x1f\x8b", "This is a gzip archive"),
    (b"\x89PNG", "This is a PNG image"),
    (b"\xff\xd8\xff", "This is a JPEG image"),
    (b"7z\xbc\xaf\x27\x1c", "This is a 7-Zip archive"),
    (b"Rar!", "This is a RAR archive"),
)


def not_csv_reason(head: bytes, *, utf16: bool) -> str | None:
    """Why a file with these first bytes is no CSV text, or None if it may be.

    Spreadsheets and other binary files are told by their magic bytes, any other binary file
    by a NUL byte (which no CSV text holds, except UTF-16's: `utf16` if that is the encoding).
    """
    if head.startswith(_ZIP_MAGIC):
        # An Office Open XML or OpenDocument file is a ZIP whose member names say which.
        if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head[:200]:
            kind = "This is an OpenDocument spreadsheet (.ods)"
        elif b"xl/" in head:
            kind = "This is an Excel workbook (.xlsx)"
        elif b"word/" in head or b"opendocument.text" in head[:200]:
            kind = "This is a text document (.docx, .odt)"
        else:
            kind = "This is a ZIP archive"
        return f"{kind}; {_SAVE_AS_CSV}"
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return f"{kind}; {_SAVE_AS_CSV}"
    if not utf16 and b"\x00" in head:
        return f"This is a binary file, not CSV text; {_SAVE_AS_CSV}"
    return None


def _is_letter(char: str) -> bool:
    return unicodedata.category(char) in ("Lu", "Ll", "Lt")


# The non-ASCII lower-case letters of the languages written in Windows-1252 or Windows-1250.
# A word is plausible if one language has all its letters: `Dvoøák` (Czech `Dvořák` read as
# Windows-1252) is not, as no language mixes `ø` with `á`.
_LANGUAGE_LETTERS = tuple(
    frozenset(letters)
    for letters in (
        "äöüß",  # German
        "àâæçéèêëîïôœùûüÿ",  # French
        "áéíóúñü",  # Spanish
        "áâãàçéêíóôõúü",  # Portuguese
        "àèéìíîòóùú",  # Italian
        "àçéèíïòóúü",  # Catalan
        "áéíóúàèëïöü",  # Dutch
        "æøåéó",  # Danish, Norwegian
        "åäöé",  # Swedish
        "äöåšž",  # Finnish
        "áðéíóúýþæö",  # Icelandic
        "äöõüšž",  # Estonian
        "ąćęłńóśźż",  # Polish
        "áčďéěíňóřšťúůýž",  # Czech
        "áäčďéíĺľňóôŕšťúýž",  # Slovak
        "áéíóöőúüű",  # Hungarian
        "čćđšž",  # Slovenian, Croatian, Bosnian
        "ăâîșşțţ",  # Romanian
    )
)
_WORD = re.compile(r"[^\s\"',;|()\[\]{}<>/\\:.!?@&*#%+=_\-0-9]+")
# The code pages a file's bytes may be in, a tie going to the earlier: Western European
# Windows, Central European Windows, and ISO-8859-2 (Central European Unix and older mail
# systems), which places ą ś ź š ť ž and their capitals elsewhere than Windows-1250 does.
_CANDIDATES = ("cp1252", "cp1250", "iso8859-2")


def _signs(codec: str, others: tuple[str, ...]) -> frozenset[str]:
    """Characters that are no letter in `codec` but whose byte is one in another code page:
    `£` `³` `¿` in a Windows-1252 reading are the `Ł` `ł` `ż` of Windows-1250."""
    signs = set()
    for byte in range(0x80, 0x100):
        mine = bytes([byte]).decode(codec, errors="replace")
        if _is_letter(mine):
            continue
        for other in others:
            if _is_letter(bytes([byte]).decode(other, errors="replace")):
                signs.add(mine)
    return frozenset(signs)


_SIGNS = {
    codec: _signs(codec, tuple(other for other in _CANDIDATES if other != codec))
    for codec in _CANDIDATES
}


# Characters no text holds: a byte the code page leaves undefined, or a C1 control code
# (ISO-8859-2 has those where Windows-1250 has š ś ť ž ź).
_UNDECODABLE = frozenset({"\ufffd"} | {chr(code) for code in range(0x80, 0xA0)})


def reading_score(text: str, signs: frozenset[str]) -> tuple[int, int]:
    """How unlike names and words in a European language `text` reads, as (implausible,
    foreign): 2 per word holding a letter and a sign or an undecodable byte, 1 per word whose
    letters no language has; then 1 per other word that the language most words fit has not
    the letters of. A file is mostly in one language: Hungarian `Győző Szűcs Kőműves` read as
    Windows-1252 is `Gyõzõ Szûcs Kõmûves`, words each of Portuguese, French and no language.
    """
    bad = signs | _UNDECODABLE
    implausible = 0
    # Words by their set of accented letters: a file holds few distinct sets, so each is
    # checked against the languages once, not once per word.
    letter_sets: Counter[frozenset[str]] = Counter()
    # Each distinct word once (names and places repeat); most are ASCII and skipped at once.
    for word, count in Counter(_WORD.findall(text)).items():
        if word.isascii():
            continue
        special = {char for char in word if not char.isascii()}
        if special & bad:
            if any(_is_letter(char) for char in word):
                implausible += 2 * count
            continue
        letters = frozenset(char.lower() for char in special if _is_letter(char))
        if letters:
            letter_sets[letters] += count
    plausible = 0
    for letters, words in letter_sets.items():
        if any(letters <= language for language in _LANGUAGE_LETTERS):
            plausible += words
        else:
            implausible += words
    fitting = max(
        sum(words for letters, words in letter_sets.items() if letters <= language)
        for language in _LANGUAGE_LETTERS
    )
    return implausible, plausible - fitting


@dataclass(frozen=True)
class CodePageGuess:
    """The code page a file's bytes read best in; `alternative` another they read exactly as
    plausibly in, with `example` a word as read and as the alternative reads it."""

    codec: str
    alternative: str | None = None
    example: tuple[str, str] | None = None


def guess_code_page(head: bytes) -> CodePageGuess:
    """The code page (`cp1252`, `cp1250`, `iso8859-2`) these non-UTF-8 bytes read as the most
    plausible words in (`reading_score`), and whether another reads as plausibly.

    A tie goes to Windows-1252, then Windows-1250: German reads the same in all three, and
    French, Spanish or Danish read in Windows-1250 still look like Czech or Polish letters, so
    only a file that makes implausible words in Windows-1252 (`£ukasz ¯ó³kiewski`, `Jiøí
    Èerný`) or words of many languages (`Gyõzõ Szûcs`) is Central European.
    """
    readings = [head.decode(codec, errors="replace") for codec in _CANDIDATES]
    scores = [
        reading_score(text, _SIGNS[codec])
        for codec, text in zip(_CANDIDATES, readings, strict=True)
    ]
    best = min(range(len(_CANDIDATES)), key=lambda index: scores[index])
    for other in range(len(_CANDIDATES)):
        if other != best and scores[other] == scores[best]:
            example = _differing_word(readings[best], readings[other])
            if example is not None:
                return CodePageGuess(_CANDIDATES[best], _CANDIDATES[other], example)
    return CodePageGuess(_CANDIDATES[best])


def _differing_word(mine: str, theirs: str) -> tuple[str, str] | None:
    """The first word that two single-byte readings of the same bytes spell differently."""
    # One character per byte in both, so a position is the same byte in each.
    for at, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        if a != b:
            start = at
            while (
                start > 0
                and _WORD.fullmatch(mine[start - 1])
                and _WORD.fullmatch(theirs[start - 1])
            ):
                start -= 1
            end = at + 1
            while end < len(mine) and _WORD.fullmatch(mine[end]) and _WORD.fullmatch(theirs[end]):
                end += 1
            return mine[start:end], theirs[start:end]
    return None
