"""CSV import, as pure functions: streaming record splitting and turning a row into a profile.

The file is read as it arrives. Its encoding is decided from its first bytes (a byte order mark,
UTF-16's NUL bytes, whether it decodes as UTF-8, else Windows-1252, Windows-1250 or ISO-8859-2,
with a note when two read as plausibly; a spreadsheet or other binary file is refused by them)
and its delimiter from its header line (the one of `,` `;` tab `|` that finds the most mapped
columns), unless the import names them. Decoded text is cut into records by a scanner that
follows the csv module's quoting rules and ends a record only at `\n`, `\r\n` or `\r` outside
quotes (as the csv module does for a file opened with `newline=""`; never at the other line
separators `str.splitlines` knows, such as U+2028), and each record is parsed with the csv
module. A record never needs more than itself in memory, and one longer than
`MAX_RECORD_CHARS` ends the import with a reason instead of growing without bound.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from crm_candidates.domain.file_sniffing import guess_code_page, not_csv_reason
from crm_candidates.domain.import_values import yes_or_no

# A record longer than this is refused: it is an unterminated quote or not a CSV file.
MAX_RECORD_CHARS = 65_536
# The first bytes the encoding is decided from (and the header's delimiter, if it ends there).
SNIFF_BYTES = 65_536
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Encodings an import may name (any spelling Python knows, e.g. `latin1`, `windows-1252`),
# by the name the import reports.
ENCODINGS = {
    "utf-8": "utf-8-sig",
    "utf-16": "utf-16",
    "utf-16-le": "utf-16-le",
    "utf-16-be": "utf-16-be",
    "windows-1252": "cp1252",
    "windows-1250": "cp1250",
    "iso-8859-1": "latin-1",
    "iso-8859-15": "iso8859-15",
    "iso-8859-2": "iso8859-2",
}
_CODEC_TO_NAME = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "utf-16": "utf-16",
    "utf-16-le": "utf-16-le",
    "utf-16-be": "utf-16-be",
    "cp1252": "windows-1252",
    "cp1250": "windows-1250",
    "iso8859-1": "iso-8859-1",
    "latin-1": "iso-8859-1",
    "iso8859-15": "iso-8859-15",
    "iso8859-2": "iso-8859-2",
}
# The Windows code pages leave a few bytes undefined; they are read as Latin-1 (see below).
_WINDOWS_CODE_PAGES = frozenset({"windows-1252", "windows-1250"})
_LATIN1_FALLBACK = "crm-latin1-fallback"
_UNQUOTED_STOPS = re.compile(r'["\r\n]')
_LINE_END = re.compile(r"[\r\n]")
CUSTOM_FIELD_PREFIX = "custom_fields."
# Profile fields a column can be mapped to; lists take several values separated by ; , or |.
LIST_FIELDS = frozenset({"emails", "phones", "skills", "tags", "profile_urls", "desired_roles"})
TEXT_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "headline",
        "current_title",
        "current_company",
        "location",
        "time_zone",
        "locale",
        "seniority",
        "owner_id",
    }
)
BOOLEAN_FIELDS = frozenset({"marketing_consent"})
# A column holding the whole name ("Ana María de la Cruz", "Cruz, Ana"), split into the two.
FULL_NAME = "full_name"
IMPORTABLE_FIELDS = LIST_FIELDS | TEXT_FIELDS | BOOLEAN_FIELDS | {FULL_NAME}
REQUIRED_FIELDS = ("first_name", "last_name", "emails")
# Words that begin a last name rather than end a first one (`Jan van der Berg`).
_SURNAME_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "la", "le", "du", "da", "das", "dos", "del", "della",
     "di", "ter", "ten", "zu", "zur", "af", "av", "bin", "al", "el", "mac", "st."}
)  # fmt: skip


def split_full_name(value: str) -> tuple[str, str]:
    """A whole name as (first name, last name): at its comma when written `Last, First`,
    else the last word with the particles before it (`Ana María de la Cruz` -> `Ana María`,
    `de la Cruz`); one word is a first name alone."""
    text = " ".join(value.split())
    last, comma, first = text.partition(",")
    if comma and first.strip() and last.strip():
        return first.strip(), last.strip()
    words = text.split(" ")
    if len(words) == 1:
        return text, ""
    cut = len(words) - 1
    while cut > 1 and words[cut - 1].casefold() in _SURNAME_PARTICLES:
        cut -= 1
    return " ".join(words[:cut]), " ".join(words[cut:])


LIST_SEPARATORS = re.compile(r"[;,|]")


class CsvFormatError(ValueError):
    """The file cannot be read as CSV (encoding, an unterminated quote, no header)."""


def mapping_errors(mapping: dict[str, str]) -> list[tuple[str, str]]:
    """`(path, reason)` for each mapping entry naming no importable field, and missing ones."""
    errors: list[tuple[str, str]] = []
    for column, target in mapping.items():
        if target.startswith(CUSTOM_FIELD_PREFIX) and len(target) > len(CUSTOM_FIELD_PREFIX):
            continue
        if target not in IMPORTABLE_FIELDS:
            known = ", ".join(sorted(IMPORTABLE_FIELDS))
            errors.append(
                (f"mapping.{column}", f"{target!r} is not a field ({known}, custom_fields.<key>)")
            )
    targets = set(mapping.values())
    if FULL_NAME in targets:
        targets |= {"first_name", "last_name"}
    errors.extend(
        ("mapping", f"no column is mapped to {required}")
        for required in REQUIRED_FIELDS
        if required not in targets
    )
    return errors


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    # Windows-1252 and -1250 leave five bytes undefined; read them as Latin-1 (their C1
    # control codes) so a file in either never fails to decode.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)


def encoding_name(requested: str) -> str:
    """The canonical name of an encoding an import may name; `ValueError` for any other."""
    try:
        codec = codecs.lookup(requested.strip()).name
    except LookupError:
        codec = ""
    name = _CODEC_TO_NAME.get(codec)
    if name is None:
        raise ValueError(
            f"{requested!r} is not an encoding imports read (one of {', '.join(ENCODINGS)})"
        )
    return name


@dataclass(frozen=True)
class DetectedEncoding:
    """The encoding a file was read in, and `note`, for the import's report, when the bytes
    read as plausibly in another: which one, a word as each reads it, and how to name it."""

    name: str
    note: str | None = None
    alternative: str | None = None


def detect_encoding(head: bytes, *, complete: bool) -> str:
    """The encoding of a file from its first bytes (`complete` if they are the whole file)."""
    return sniff_encoding(head, complete=complete).name


def sniff_encoding(head: bytes, *, complete: bool) -> DetectedEncoding:
    """The encoding of a file from its first bytes (`complete` if they are the whole file).

    A byte order mark decides; else UTF-16 text is told by its NUL bytes (every other byte of
    Latin text); else UTF-8 if the bytes decode as UTF-8, else the code page whose reading
    makes the most plausible words (`guess_code_page`): Windows-1252 (Western European),
    Windows-1250 or ISO-8859-2 (Central European).
    """
    if head.startswith(codecs.BOM_UTF8):
        return DetectedEncoding("utf-8")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return DetectedEncoding("utf-16")
    sample = head[:4096]
    half = len(sample) // 2
    if half >= 2:
        even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
        if odd_nuls >= half * 0.3 and even_nuls <= half * 0.05:
            return DetectedEncoding("utf-16-le")
        if even_nuls >= half * 0.3 and odd_nuls <= half * 0.05:
            return DetectedEncoding("utf-16-be")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        guess = guess_code_page(head)
        name = _CODEC_TO_NAME[guess.codec]
        if guess.alternative is None or guess.example is None:
            return DetectedEncoding(name)
        other = _CODEC_TO_NAME[guess.alternative]
        read, would_be = guess.example
        return DetectedEncoding(
            name,
            f"The file names no encoding and reads as plausibly in {other} as in {name}, the "
            f"one assumed: {read!r} would be {would_be!r} in {other}. If names look wrong, "
            f"import it again naming the encoding ({other!r} as the import's `encoding`, "
            f"or `charset={other}` in the upload's Content-Type).",
            other,
        )
    return DetectedEncoding("utf-8")


def _refuse_binary(head: bytes, encoding: str) -> None:
    """`CsvFormatError` for a spreadsheet or other binary file picked instead of its CSV."""
    reason = not_csv_reason(head, utf16=encoding.startswith("utf-16"))
    if reason is not None:
        raise CsvFormatError(reason)


def detect_delimiter(header: str, expected_columns: Collection[str] = ()) -> str:
    """The delimiter of a header line: the one finding the most expected columns, then cells.

    Ties go to the earlier of `,` `;` tab `|`, so a one-column header is comma-separated.
    """
    expected = {column.strip() for column in expected_columns}
    best, best_score = DELIMITERS[0], (-1, -1)
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([header], delimiter=delimiter), [])
        except csv.Error:
            continue
        names = {cell.strip() for cell in cells}
        score = (len(expected & names), len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best


class RecordSplitter:
    """Cuts decoded CSV text into records, fed piece by piece; quoting as the csv module reads it.

    A quote opens a quoted field only at the start of a field; inside one, `""` is a quote and
    line breaks are data. Outside quotes `\n`, `\r\n` and `\r` end the record.
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.records_read = 0
        self._buffer = ""
        self._pos = 0
        self._in_quotes = False

    def feed(self, text: str, *, final: bool = False) -> list[str]:
        """The records completed by `text` (without their line ends); `final` at the end."""
        self._buffer += text
        records: list[str] = []
        # `start` is where the current record begins: records are cut out by offset and the
        # buffer shortened once per piece, not once per record (which copied it per record).
        buffer, pos, start = self._buffer, self._pos, 0
        while True:
            if self._in_quotes:
                end = buffer.find('"', pos)
                if end < 0 or (end + 1 == len(buffer) and not final):
                    pos = len(buffer) if end < 0 else end
                    break
                if end + 1 < len(buffer) and buffer[end + 1] == '"':
                    pos = end + 2
                    continue
                self._in_quotes, pos = False, end + 1
                continue
            match = _UNQUOTED_STOPS.search(buffer, pos)
            if match is None:
                pos = len(buffer)
                break
            at = match.start()
            if buffer[at] == '"':
                if at == start or buffer[at - 1] == self.delimiter:
                    self._in_quotes = True
                pos = at + 1
                continue
            if buffer[at] == "\r" and at + 1 == len(buffer) and not final:
                pos = at  # a `\r\n` may be cut between two pieces
                break
            if at - start > MAX_RECORD_CHARS:
                self.records_read += len(records)
                raise CsvFormatError(self._too_long())
            after = at + 2 if buffer.startswith("\r\n", at) else at + 1
            records.append(buffer[start:at])
            start = pos = after
        buffer, pos = buffer[start:], pos - start
        self._buffer, self._pos = buffer, pos
        self.records_read += len(records)
        if len(buffer) > MAX_RECORD_CHARS:
            raise CsvFormatError(self._too_long())
        if final:
            if self._in_quotes:
                raise CsvFormatError(f"a quoted field opened in {self._where()} is never closed")
            if buffer:
                records.append(buffer)
                self.records_read += 1
            self._buffer, self._pos = "", 0
        return records

    def _where(self) -> str:
        row = self.records_read
        return "the header" if row == 0 else f"row {row}"

    def _too_long(self) -> str:
        reason = "a quoted field is never closed" if self._in_quotes else "no line ends in it"
        return (
            f"{self._where()} is longer than {MAX_RECORD_CHARS:,} characters ({reason}; is "
            "this a CSV file?)"
        )


def parse_record(text: str, delimiter: str) -> list[str]:
    """The cells of one record cut by `RecordSplitter`."""
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error as invalid:
        raise CsvFormatError(f"a row cannot be read as CSV ({invalid})") from None


class CsvStream:
    """The records of a CSV byte stream, read as the bytes arrive.

    `encoding` and `delimiter` are the ones named by the import, else detected; once
    `records()` has yielded the header, they hold what is used.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        expected_columns: Collection[str] = (),
    ) -> None:
        self._chunks = chunks
        self.encoding = encoding_name(encoding) if encoding else None
        # Set when the encoding was detected and another read the bytes as plausibly.
        self.encoding_note: str | None = None
        self.delimiter = delimiter
        self._expected = list(expected_columns)

    async def _texts(self) -> AsyncIterator[tuple[str, bool]]:
        """The decoded text as it arrives, with whether it is the last piece."""
        head = b""
        complete = False
        while len(head) < SNIFF_BYTES:
            piece = await anext(self._chunks, None)
            if piece is None:
                complete = True
                break
            head += piece
        if self.encoding is None:
            detected = sniff_encoding(head, complete=complete)
            self.encoding, self.encoding_note = detected.name, detected.note
        encoding = self.encoding
        _refuse_binary(head, encoding)
        codec = ENCODINGS[encoding]
        if codec == "utf-16" and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            # UTF-16 named without a byte order mark: little-endian, as Windows writes it.
            codec = "utf-16-le"
        decoder = codecs.getincrementaldecoder(codec)(
            errors=_LATIN1_FALLBACK if encoding in _WINDOWS_CODE_PAGES else "strict"
        )
        consumed = 0
        data: bytes | None = head
        while data is not None:
            try:
                text = str(decoder.decode(data, final=complete))
            except UnicodeError as invalid:
                where = (
                    f"at byte {consumed + invalid.start:,}: {invalid.reason}"
                    if isinstance(invalid, UnicodeDecodeError)
                    else str(invalid)
                )
                raise CsvFormatError(
                    f"the file is not {encoding} text ({where}); name its encoding in the "
                    "import, e.g. windows-1252"
                ) from None
            consumed += len(data)
            yield text, complete
            if complete:
                return
            data = await anext(self._chunks, None)
            if data is None:
                complete, data = True, b""

    async def records(self) -> AsyncGenerator[list[str], None]:
        """Each record's cells, the header first; raises `CsvFormatError` for a broken file."""
        splitter: RecordSplitter | None = None
        pending = ""
        async for text, final in self._texts():
            if splitter is None:
                pending += text
                if (
                    not final
                    and not _LINE_END.search(pending)
                    and (len(pending) <= MAX_RECORD_CHARS)
                ):
                    continue  # the header line is not complete yet
                header = _LINE_END.split(pending, maxsplit=1)[0]
                self.delimiter = self.delimiter or detect_delimiter(header, self._expected)
                splitter = RecordSplitter(self.delimiter)
                text, pending = pending, ""
            for record in splitter.feed(text, final=final):
                yield parse_record(record, splitter.delimiter)


async def csv_records(
    chunks: AsyncIterator[bytes],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    expected_columns: Collection[str] = (),
) -> AsyncIterator[list[str]]:
    """The records of a CSV byte stream, one list of cells each (see `CsvStream`)."""
    stream = CsvStream(
        chunks, encoding=encoding, delimiter=delimiter, expected_columns=expected_columns
    )
    async for record in stream.records():
        yield record


@dataclass(frozen=True)
class ColumnPlan:
    """Which cells of a row feed which profile field, decided once from the header."""

    columns: list[tuple[int, str, str]] = field(default_factory=list)

    @classmethod
    def from_header(cls, header: list[str], mapping: list[tuple[str, str]]) -> ColumnPlan:
        """The plan for `header`; raises `CsvFormatError` if a mapped column is missing."""
        positions = {name.strip(): index for index, name in enumerate(header)}
        missing = [column for column, _ in mapping if column.strip() not in positions]
        if missing:
            raise CsvFormatError(f"the header has no column {', '.join(map(repr, missing))}")
        return cls([(positions[column.strip()], column, target) for column, target in mapping])

    def cells(self, row: list[str]) -> list[str]:
        """The mapped cells of a row, in plan order (what an import stores per row)."""
        return [row[index] if index < len(row) else "" for index, _, _ in self.columns]

    def targets(self) -> list[tuple[str, str]]:
        """(column, field) of each mapped cell, in plan order."""
        return [(column, target) for _, column, target in self.columns]


def row_fields(targets: list[tuple[str, str]], cells: list[str]) -> dict[str, Any]:
    """The profile fields of one row's mapped cells; blank cells are left out.

    Several columns may feed one list field (`email`, `work email` -> `emails`).
    """
    fields: dict[str, Any] = {}
    for (_, target), raw in zip(targets, cells, strict=True):
        value = raw.strip()
        if target in LIST_FIELDS:
            items = [item.strip() for item in LIST_SEPARATORS.split(value) if item.strip()]
            fields.setdefault(target, []).extend(items)
        elif target in BOOLEAN_FIELDS:
            # A cell that is no yes/no word stays text: the row report says so.
            answer = yes_or_no(value)
            fields[target] = raw if answer is None else answer
        elif target.startswith(CUSTOM_FIELD_PREFIX):
            if value:
                fields.setdefault("custom_fields", {})[target[len(CUSTOM_FIELD_PREFIX) :]] = value
        elif value:
            fields[target] = value
    whole = fields.pop(FULL_NAME, None)
    if whole:
        # Columns of their own for the first or last name win over the split.
        first, last = split_full_name(whole)
        fields.setdefault("first_name", first)
        if last:
            fields.setdefault("last_name", last)
    return fields


def column_of(targets: list[tuple[str, str]], field_path: str) -> str | None:
    """The CSV column a profile field path (`emails.1`, `custom_fields.level`) came from."""
    head = field_path.split(".")[0]
    target = field_path if head == "custom_fields" else head
    for column, mapped in targets:
        if mapped == target:
            return column
    if target in ("first_name", "last_name"):
        return next((column for column, mapped in targets if mapped == FULL_NAME), None)
    return None


def iter_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in consecutive batches of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# What a column is usually called, per profile field: the column's name folded (accents and
# everything but letters and digits dropped, lower case) as English, German, French, Spanish,
# Portuguese, Polish, Dutch, Scandinavian and Finnish exports spell it. The first field whose
# names hold it is suggested.
_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": (
        "firstname",
        "first",
        "givenname",
        "forename",
        "vorname",
        "prenom",
        "nombre",
        "voornaam",
        "fornavn",
        "fornamn",
        "nome",
        "etunimi",
        "rufname",
        "primeironome",
        "prenome",
        "imie",
    ),
    "last_name": (
        "lastname",
        "last",
        "surname",
        "familyname",
        "nachname",
        "nom",
        "apellido",
        "apellidos",
        "achternaam",
        "efternavn",
        "efternamn",
        "etternavn",
        "cognome",
        "sukunimi",
        "familienname",
        "zuname",
        "nomdefamille",
        "sobrenome",
        "apelido",
        "ultimonome",
        "nazwisko",
    ),
    "emails": (
        "email",
        "emails",
        "mail",
        "emailaddress",
        "workemail",
        "personalemail",
        "courriel",
        "correo",
        "correoelectronico",
        "emailadresse",
        "adressemail",
        "adresseemail",
        "epost",
        "epostadress",
        "epostadresse",
        "emailadres",
        "sahkoposti",
        "sahkopostiosoite",
        "mailadresse",
        "correio",
        "correioeletronico",
        "enderecodeemail",
        "enderecoemail",
        "adresemail",
        "poczta",
        "pocztaelektroniczna",
        "email1",
        "email2",
    ),
    "phones": (
        "phone",
        "phones",
        "telephone",
        "tel",
        "mobile",
        "cell",
        "phonenumber",
        "telefon",
        "telefonnummer",
        "telefono",
        "handy",
        "portable",
        "mobil",
        "mobiltelefon",
        "telefonnr",
        "puhelin",
        "matkapuhelin",
        "puhelinnumero",
        "handynummer",
        "mobilnummer",
        "telefone",
        "telemovel",
        "celular",
        "movil",
        "telefonomovil",
        "numerodetelephone",
        "telephoneportable",
        "telefonkomorkowy",
        "komorka",
        "numertelefonu",
        "nrtelefonu",
    ),
    "skills": ("skills", "skill", "competences", "kompetenzen", "fahigkeiten", "habilidades"),
    "tags": ("tags", "tag", "labels", "schlagworte"),
    "profile_urls": (
        "profileurls",
        "profileurl",
        "linkedin",
        "linkedinurl",
        "github",
        "website",
        "url",
    ),
    "desired_roles": ("desiredroles", "desiredrole", "targetrole", "targetroles"),
    "headline": ("headline", "summary"),
    "current_title": (
        "currenttitle",
        "title",
        "jobtitle",
        "position",
        "role",
        "berufsbezeichnung",
        "poste",
        "titel",
        "cargo",
        "functie",
        "befattning",
        "yrkestitel",
        "stilling",
        "titteli",
        "tehtavanimike",
        "jobtitel",
        "stellenbezeichnung",
        "funktion",
        "intitule",
        "intituleduposte",
        "fonction",
        "titre",
        "puesto",
        "titulo",
        "funcao",
        "stanowisko",
    ),
    "current_company": (
        "currentcompany",
        "company",
        "employer",
        "organisation",
        "organization",
        "firma",
        "unternehmen",
        "arbeitgeber",
        "entreprise",
        "societe",
        "empresa",
        "bedrijf",
        "foretag",
        "arbetsgivare",
        "virksomhed",
        "bedrift",
        "yritys",
        "firmenname",
        "employeur",
        "compania",
        "empleador",
        "empregador",
        "pracodawca",
        "nazwafirmy",
    ),
    "location": (
        "location",
        "city",
        "ort",
        "stadt",
        "wohnort",
        "ville",
        "ciudad",
        "plaats",
        "kaupunki",
        "paikkakunta",
        "standort",
        "lieu",
        "localite",
        "localisation",
        "ubicacion",
        "localidad",
        "poblacion",
        "cidade",
        "localidade",
        "localizacao",
        "miasto",
        "miejscowosc",
        "lokalizacja",
        "mesto",
    ),
    "time_zone": ("timezone", "tz", "zeitzone"),
    "locale": ("locale", "language", "sprache", "langue", "idioma"),
    "seniority": ("seniority", "level"),
    "owner_id": ("owner", "ownerid"),
    "marketing_consent": (
        "marketingconsent",
        "consent",
        "optin",
        "newsletter",
        "einwilligung",
        "consentement",
    ),
}
# Column names of a whole name (folded as above); suggested only when no column names the
# first or last name (beside a `Vorname` column, a German `Name` is the last name).
_FULL_NAME_ALIASES = frozenset(
    {"name", "fullname", "candidatename", "candidate", "displayname", "contactname",
     "personname", "nomcomplet", "nombrecompleto", "nombreyapellidos", "nomecompleto",
     "vollstandigername", "vollername", "naam", "volledigenaam", "navn", "namn", "nimi",
     "imieinazwisko", "kandidat"}
)  # fmt: skip
# How many rows after the header a preview shows per column.
PREVIEW_ROWS = 3


def _folded(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char.isascii() and char.isalnum())


def suggest_field(column: str) -> str | None:
    """The profile field a column's name suggests (`E-Mail` -> `emails`), if any."""
    folded = _folded(column)
    if not folded:
        return None
    for target, names in _FIELD_ALIASES.items():
        if folded == _folded(target) or folded in names:
            return target
    return None


@dataclass(frozen=True)
class PreviewColumn:
    name: str
    suggested_field: str | None
    samples: list[str]


@dataclass(frozen=True)
class CsvPreview:
    """What the first bytes of a file say: how to read it, its columns and a mapping to start
    from (a single-valued field is suggested for the first column that names it only)."""

    encoding: str
    delimiter: str
    columns: list[PreviewColumn]
    # When the encoding was detected and another read the bytes as plausibly (see
    # `DetectedEncoding`).
    encoding_note: str | None = None
    encoding_alternative: str | None = None

    @property
    def missing_required(self) -> list[str]:
        suggested = {column.suggested_field for column in self.columns}
        if FULL_NAME in suggested:
            suggested |= {"first_name", "last_name"}
        return [name for name in REQUIRED_FIELDS if name not in suggested]


def preview_csv(
    head: bytes,
    *,
    complete: bool,
    encoding: str | None = None,
    delimiter: str | None = None,
    custom_fields: Mapping[str, str] | None = None,
) -> CsvPreview:
    """The header and first rows of a file from its first bytes (`complete`: the whole file);
    a column named as one of the tenant's custom fields (`custom_fields`: its label or key ->
    `custom_fields.<key>`) suggests that field, unless its name suggests a profile field.

    A record cut off by the end of the bytes is left out, as is a character cut in half.
    """
    custom_named = {_folded(name): target for name, target in (custom_fields or {}).items()}
    note = alternative = None
    if encoding:
        encoding = encoding_name(encoding)
    else:
        detected = sniff_encoding(head, complete=complete)
        encoding, note, alternative = detected.name, detected.note, detected.alternative
    _refuse_binary(head, encoding)
    codec = ENCODINGS[encoding]
    if codec == "utf-16" and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16-le"
    decoder = codecs.getincrementaldecoder(codec)(
        errors=_LATIN1_FALLBACK if encoding in _WINDOWS_CODE_PAGES else "strict"
    )
    try:
        text = str(decoder.decode(head, final=complete))
    except UnicodeDecodeError as invalid:
        raise CsvFormatError(
            f"the file is not {encoding} text (at byte {invalid.start:,}: {invalid.reason})"
        ) from None
    header_line = _LINE_END.split(text, maxsplit=1)[0]
    if not header_line.strip():
        raise CsvFormatError("the file has no header row")
    delimiter = delimiter or detect_delimiter(header_line)
    records = RecordSplitter(delimiter).feed(text, final=complete)
    if not records:
        raise CsvFormatError("the header row does not end within the first bytes")
    header = parse_record(records[0], delimiter)
    rows = [parse_record(record, delimiter) for record in records[1 : PREVIEW_ROWS + 1]]
    taken: set[str] = set()
    columns: list[PreviewColumn] = []
    for index, name in enumerate(header):
        suggested = suggest_field(name) or custom_named.get(_folded(name))
        # List fields take several columns (a work and a private e-mail); others take one.
        if suggested in taken and suggested not in LIST_FIELDS:
            suggested = None
        if suggested:
            taken.add(suggested)
        samples = [row[index].strip() for row in rows if index < len(row) and row[index].strip()]
        columns.append(PreviewColumn(name.strip(), suggested, samples))
    columns = _whole_name_suggested(columns, taken)
    return CsvPreview(
        encoding=encoding,
        delimiter=delimiter,
        columns=columns,
        encoding_note=note,
        encoding_alternative=alternative,
    )


def _whole_name_suggested(columns: list[PreviewColumn], taken: set[str]) -> list[PreviewColumn]:
    """The columns with a whole name's column suggested: as `full_name` where no column names
    the first or last name, as `last_name` beside a first name's (`Vorname`, `Name`)."""
    if "last_name" in taken:
        return columns
    target = "last_name" if "first_name" in taken else FULL_NAME
    for index, column in enumerate(columns):
        if column.suggested_field is None and _folded(column.name) in _FULL_NAME_ALIASES:
            return [
                *columns[:index],
                replace(column, suggested_field=target),
                *columns[index + 1 :],
            ]
    return columns
