"""The QR code of a check-in URL as a PNG image."""

from __future__ import annotations

import struct

import pytest
import segno

from crm_campaigns.adapters.qr import QR_BORDER, QR_SCALE, qr_png

pytestmark = pytest.mark.unit

URL = "https://crm.example/console/events/0191c2/check-in?code=ABCD2345"


def test_the_png_is_the_qr_code_of_the_url_at_a_phone_readable_size() -> None:
    png = qr_png(URL)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk comes first
    symbol = segno.make_qr(URL, error="m")
    side = (symbol.symbol_size(scale=1, border=0)[0] + 2 * QR_BORDER) * QR_SCALE
    assert (width, height) == (side, side)
    assert 150 <= side <= 300
    assert symbol.error == "M"
