"""HTTP content negotiation (RFC 9110 12.4.2): the values of an `Accept`-style header, each with
its quality."""

from __future__ import annotations


def weighted_values(header: str | None) -> list[tuple[str, float]]:
    """Each value of the header (lower-cased, parameters dropped) with its `q` (1 when not
    given, 0 when not a number), in the header's order; empty parts left out."""
    found: list[tuple[str, float]] = []
    for part in (header or "").split(","):
        value, *parameters = (piece.strip() for piece in part.split(";"))
        if not value:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, number = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        found.append((value.lower(), quality))
    return found
