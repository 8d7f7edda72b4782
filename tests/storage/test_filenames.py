"""MIME types for uploads, and client filenames made safe as object names."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pique_engine.storage.filenames import content_type_for, safe_object_filename


# --- MIME types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "kind", "mime"),
    [
        ("safety_test_video.mp4", "video", "video/mp4"), ("CLIP.MOV", "video", "video/quicktime"),
        ("a.webm", "video", "video/webm"), ("a.m4v", "video", "video/mp4"),
        ("p.jpg", "image", "image/jpeg"), ("p.JPEG", "image", "image/jpeg"), ("p.png", "image", "image/png"),
        ("p.webp", "image", "image/webp"), ("p.gif", "image", "image/gif"),
        ("s.mp3", "audio", "audio/mpeg"), ("s.wav", "audio", "audio/wav"), ("s.flac", "audio", "audio/flac"),
        ("s.m4a", "audio", "audio/mp4"), ("s.ogg", "audio", "audio/ogg"),
        # the declared kind decides between a container's audio and video types
        ("voice.mp4", "audio", "audio/mp4"), ("voice.webm", "audio", "audio/webm"), ("v.ogg", "video", "video/ogg"),
        # an extension of another kind, or none, is labelled honestly: the bytes decide later
        ("photo.png", "video", "application/octet-stream"), ("clip", "video", "application/octet-stream"),
        ("clip.", "audio", "application/octet-stream"), ("x.exe", "image", "application/octet-stream"),
    ],
)  # fmt: skip
def test_content_type_comes_from_the_extension_within_the_declared_kind(filename, kind, mime):
    assert content_type_for(filename, kind) == mime


def test_content_type_for_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="video, image, audio"):
        content_type_for("a.mp4", "document")


# --- object-safe filenames ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("safety_test_video.mp4", "safety_test_video.mp4"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/clip.mp4", "clip.mp4"),
        ("..", "file"),
        (".mp4", "file.mp4"),
        ("   ", "file"),
        ("clip\u202egnp.mp4", "clipgnp.mp4"),  # right-to-left override
        ("zero\u200bwidth\ufeff.mp4", "zerowidth.mp4"),
        ("nul\x00and\x1fbell\x07.mp4", "nulandbell.mp4"),
        ("e\u0301te\u0301.mov", "\u00e9t\u00e9.mov"),  # NFC
        ("a#b?c*[d].png", "a_b_c__d_.png"),
        ("no\u00a0break\u3000space.wav", "no break space.wav"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("trailing dots...", "trailing dots"),
    ],
)
def test_safe_object_filename(given, safe):
    assert safe_object_filename(given) == safe


def test_long_names_are_cut_to_255_bytes_keeping_the_extension():
    assert safe_object_filename("x" * 300 + ".mp4") == "x" * 251 + ".mp4"
    cut = safe_object_filename("é" * 200 + ".mov")  # 2 bytes each
    assert cut == "é" * 125 + ".mov" and len(cut.encode()) == 254


@given(st.text(max_size=300))
@example("\ud800")
@example("." * 300)
@example("a" + "\u0301" * 300 + ".mp4")
def test_any_name_becomes_one_safe_nonempty_segment(name):
    safe = safe_object_filename(name)

    assert safe and safe not in (".", "..") and not safe.startswith(".")
    assert "/" not in safe and "\\" not in safe
    assert 1 <= len(safe.encode("utf-8")) <= 255
    assert unicodedata.is_normalized("NFC", safe)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in safe)
    assert safe_object_filename(safe) == safe  # stable


@given(st.from_regex(r"[A-Za-z0-9 _-]{1,300}", fullmatch=True), st.sampled_from(["mp4", "MOV", "jpeg", "flac"]))
def test_the_extension_survives_any_stem(stem, ext):
    assert safe_object_filename(f"{stem}.{ext}").endswith(f".{ext}")
