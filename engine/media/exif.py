"""The EXIF orientation of an image, from the bytes its header already holds."""

from __future__ import annotations

import warnings


def exif_orientation(img) -> int:
    """The EXIF orientation (1-8) the header already holds; 1 when absent or damaged."""
    # getexif() on a PNG decodes the whole image to look for an eXIf chunk after the pixels.
    raw = img.info.get("exif")
    if raw:
        return orientation_in_exif(raw)
    if hasattr(img, "tag_v2"):  # TIFF keeps it among its own tags
        try:
            value = img.tag_v2.get(0x0112, 1)
        except Exception:  # a damaged tag must not fail an otherwise readable image
            return 1
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    return 1


def orientation_in_exif(raw: bytes) -> int:
    """The orientation tag of a raw EXIF block; 1 when absent or damaged."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about each damaged tag; we fall back to 1
            exif = Image.Exif()
            exif.load(raw)
            value = exif.get(0x0112, 1)
    except Exception:  # a damaged EXIF block must not fail an otherwise readable image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
