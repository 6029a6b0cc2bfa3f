"""QR codes as PNG images (segno: pure Python, no imaging library)."""

from __future__ import annotations

import io

import segno

# Module size in pixels and the quiet zone in modules: about 200 px across for a check-in URL,
# large enough for a phone camera held over a printed or on-screen mail.
QR_SCALE = 5
QR_BORDER = 4


def qr_png(content: str) -> bytes:
    """`content` as a QR code (error correction M: readable with some smudge or glare) in PNG."""
    buffer = io.BytesIO()
    segno.make_qr(content, error="m").save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()
