"""What the first bytes of an uploaded file say before it is read as CSV text.

Two questions, both pure: is the file a spreadsheet or another binary file rather than CSV
(`not_csv_reason`), and, for bytes that are not UTF-8, which Windows code page wrote them
(`windows_code_page`): Excel's "CSV" is Windows-1252 on a Western European Windows and
Windows-1250 on a Central European one (Polish, Czech, Slovak, Hungarian, Slovenian, Croatian,
Romanian), and nothing in the file says which.
"""

from __future__ import annotations

import re
import unicodedata

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
_CANDIDATES = ("cp1252", "cp1250")


def _signs(codec: str, other: str) -> frozenset[str]:
    """Characters that are no letter in `codec` but whose byte is one in `other`: `£` `³`
    `¿` in a Windows-1252 reading are the `Ł` `ł` `ż` of Windows-1250."""
    signs = set()
    for byte in range(0x80, 0x100):
        mine = bytes([byte]).decode(codec, errors="replace")
        theirs = bytes([byte]).decode(other, errors="replace")
        if not _is_letter(mine) and _is_letter(theirs):
            signs.add(mine)
    return frozenset(signs)


_SIGNS = {
    codec: _signs(codec, other)
    for codec, other in ((_CANDIDATES[0], _CANDIDATES[1]), (_CANDIDATES[1], _CANDIDATES[0]))
}


def implausibility(text: str, signs: frozenset[str]) -> int:
    """How unlike names and words in a European language `text` reads: 2 per word holding a
    letter and a sign or an undecodable byte, 1 per word whose letters no language has."""
    score = 0
    for word in _WORD.findall(text):
        # Signs and accented letters are all non-ASCII; most words are neither (and skipping
        # them keeps scoring 64 KiB twice within tens of milliseconds).
        if word.isascii() or not any(_is_letter(char) for char in word):
            continue
        if any(char in signs or char == "\ufffd" for char in word):
            score += 2
            continue
        letters = {char for char in word.lower() if not char.isascii() and _is_letter(char)}
        if letters and not any(letters <= language for language in _LANGUAGE_LETTERS):
            score += 1
    return score


def windows_code_page(head: bytes) -> str:
    """`cp1250` if these (non-UTF-8) bytes read as more plausible words in Windows-1250 than
    in Windows-1252, else `cp1252`.

    A tie goes to Windows-1252: German reads the same in both, and French, Spanish or Danish
    read in Windows-1250 still look like Czech or Polish letters, so only a file that makes
    implausible words in Windows-1252 (`£ukasz ¯ó³kiewski`, `Jiøí Èerný`) is Windows-1250.
    """
    scores = [
        implausibility(head.decode(codec, errors="replace"), _SIGNS[codec]) for codec in _CANDIDATES
    ]
    return "cp1250" if scores[1] < scores[0] else "cp1252"
