"""CSV downloads: every console link to an API's CSV export comes in two kinds, the API's
default (comma separated, `.` decimals) and one for Excel where the decimal mark is a comma
(German, Swedish...: `separator=semicolon`, `;` between cells and decimal commas), which such an
Excel opens by double-click into columns."""

from __future__ import annotations

from collections.abc import Mapping

SEMICOLON = "semicolon"


def csv_params(query: Mapping[str, str]) -> dict[str, str]:
    """The API's `separator` for a console CSV link's query: semicolon when the link asks for
    it (the Excel link), otherwise nothing (the API's default, comma)."""
    return {"separator": SEMICOLON} if query.get("separator") == SEMICOLON else {}
