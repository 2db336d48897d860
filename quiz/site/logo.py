"""The coach's logo: an uploaded PNG or JPEG, checked and re-encoded before it is stored.

Re-encoding (Pillow) keeps only the pixels: no metadata, no embedded profile or script, and a
size that fits the page header and the PDF cover. SVG is refused (it can carry script and loads
other resources), and so is anything that is not what it says it is.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from quiz.site.value_checks import SettingError

KEY = "brand.logo"
MAX_BYTES = 2 * 1024 * 1024
# Larger images are refused before they are decoded (a small file can unpack into gigapixels).
MAX_PIXELS = 25_000_000
# Stored at most this large: sharp in the header (at most 48 px high) and on the PDF's cover.
MAX_SIZE = (800, 400)
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}


@dataclass(frozen=True)
class ProcessedLogo:
    """A re-encoded logo, ready to store."""

    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str


def process(data: bytes) -> ProcessedLogo:
    """Check an uploaded logo and re-encode it; SettingError (German) when it cannot be used."""
    if not data:
        raise SettingError(KEY, "Bitte wählen Sie eine Bilddatei (PNG oder JPEG).")
    if len(data) > MAX_BYTES:
        raise SettingError(KEY, "Die Datei ist größer als 2 MB. Bitte verkleinern Sie das Logo.")
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:1024].lower():
        raise SettingError(KEY, "SVG-Dateien sind nicht möglich. Bitte als PNG oder JPEG.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            if kind not in _FORMATS:
                raise SettingError(KEY, "Bitte eine PNG- oder JPEG-Datei hochladen.")
            if width * height > MAX_PIXELS:
                raise SettingError(KEY, "Das Bild ist zu groß. Bitte höchstens 5000 × 5000 Pixel.")
            probe.verify()
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()
            image = _without_metadata(decoded)
    except SettingError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise SettingError(KEY, "Die Datei ist kein lesbares PNG- oder JPEG-Bild.") from None
    image.thumbnail(MAX_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if kind == "JPEG":
        image.convert("RGB").save(out, format="JPEG", quality=90, optimize=True)
    else:
        image.save(out, format="PNG", optimize=True)
    encoded = out.getvalue()
    return ProcessedLogo(
        data=encoded,
        content_type=_FORMATS[kind],
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(encoded).hexdigest(),
    )


def _without_metadata(image: Image.Image) -> Image.Image:
    """The pixels only, in a mode PNG and JPEG can both hold."""
    mode = "RGBA" if image.mode in ("RGBA", "LA", "P", "PA") else "RGB"
    converted = image.convert(mode)
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    return clean


def extension(content_type: str) -> str:
    """The file name extension of a stored logo."""
    return "jpg" if content_type == "image/jpeg" else "png"
