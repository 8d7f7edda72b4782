"""Names for uploaded objects: the MIME type a file is stored with, and a client's filename made safe.

`content_type_for` picks the MIME type for a file; `safe_object_filename` makes a client's
filename safe as the last segment of ``{org_id}/pending/{job_id}/{filename}``.
"""

from __future__ import annotations

import unicodedata

__all__ = ["ALL_MIME_TYPES", "FALLBACK_MIME_TYPE", "MAX_FILENAME_BYTES", "content_type_for", "safe_object_filename"]

MAX_FILENAME_BYTES = 255

# Extension → MIME type within each declared kind. The worker recognises formats from their
# bytes, never from names, so this only labels the stored object: an extension from another
# kind (a .png declared as video) or none at all gets the honest application/octet-stream.
_MIME_TYPES: dict[str, dict[str, str]] = {
    "video": {
        "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime", "qt": "video/quicktime",
        "webm": "video/webm", "mkv": "video/x-matroska", "avi": "video/x-msvideo", "mpeg": "video/mpeg",
        "mpg": "video/mpeg", "3gp": "video/3gpp", "3g2": "video/3gpp2", "ogv": "video/ogg", "ogg": "video/ogg",
        "ts": "video/mp2t", "m2ts": "video/mp2t", "flv": "video/x-flv", "wmv": "video/x-ms-wmv",
    },
    "image": {
        "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "jfif": "image/jpeg", "png": "image/png",
        "webp": "image/webp", "gif": "image/gif", "avif": "image/avif", "heic": "image/heic", "heif": "image/heif",
        "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
    },
    "audio": {
        "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "m4a": "audio/mp4", "mp4": "audio/mp4",
        "aac": "audio/aac", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "weba": "audio/webm",
        "webm": "audio/webm", "aif": "audio/aiff", "aiff": "audio/aiff",
    },
}  # fmt: skip
FALLBACK_MIME_TYPE = "application/octet-stream"
ALL_MIME_TYPES = tuple(sorted({m for kind in _MIME_TYPES.values() for m in kind.values()} | {FALLBACK_MIME_TYPE}))


def content_type_for(filename: str, declared_kind: str) -> str:
    """The MIME type for `filename` as the declared kind (video, image or audio).

    >>> content_type_for("clip.MOV", "video"), content_type_for("voice.mp4", "audio")
    ('video/quicktime', 'audio/mp4')
    >>> content_type_for("photo.png", "video")
    'application/octet-stream'
    """
    if declared_kind not in _MIME_TYPES:
        raise ValueError(f"declared_kind must be one of {', '.join(_MIME_TYPES)}, not {declared_kind!r}")
    _, dot, ext = filename.rpartition(".")
    return _MIME_TYPES[declared_kind].get(ext.lower(), FALLBACK_MIME_TYPE) if dot else FALLBACK_MIME_TYPE


# Categories dropped from names: controls, format characters (bidi overrides, zero-width
# characters, BOM, tags), surrogates, private use, unassigned, line/paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Legal in GCS names but trouble in URLs, gsutil wildcards or shells and file systems.
_REPLACED = frozenset('\\/:*?"<>|#[]')
_MAX_EXTENSION = 16
_DEFAULT_STEM = "file"


def safe_object_filename(filename: str) -> str:
    """`filename` made safe as the last segment of an object name; never empty, keeps the extension.

    Only the part after the last ``/`` or ``\\`` is kept (no directories, no traversal); the
    result is NFC-normalised, has no control or invisible formatting characters, starts with
    no dot, and is at most `MAX_FILENAME_BYTES` bytes of UTF-8.

    >>> safe_object_filename("../../etc/passwd"), safe_object_filename("clip\\u202egnp.mp4")
    ('passwd', 'clipgnp.mp4')
    """
    name = unicodedata.normalize("NFC", filename)
    name = name.replace("\\", "/").rstrip("/ ").rpartition("/")[2]
    chars = []
    for c in name:
        category = unicodedata.category(c)
        if category in _DROPPED_CATEGORIES:
            continue
        chars.append(" " if category == "Zs" else "_" if c in _REPLACED else c)
    name = unicodedata.normalize("NFC", "".join(chars)).strip(" ")
    stem, dot, ext = name.rpartition(".")
    if not dot or not ext or len(ext) > _MAX_EXTENSION or not (ext.isascii() and ext.isalnum()):
        stem, ext = name, ""
    stem = stem.strip(" .") or _DEFAULT_STEM
    suffix = f".{ext}" if ext else ""
    return _truncate(stem, MAX_FILENAME_BYTES - len(suffix.encode())) + suffix


def _truncate(stem: str, max_bytes: int) -> str:
    cut = max_bytes
    while len(stem.encode()) > max_bytes and cut > 0:
        # Cut whole characters, then renormalise: a cut can leave a bare combining mark, and
        # the rare character NFC expands can push the result over again, so cut deeper.
        stem = unicodedata.normalize("NFC", stem.encode()[:cut].decode(errors="ignore")).rstrip(" .")
        cut -= 1
    return stem or _DEFAULT_STEM
