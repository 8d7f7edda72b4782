"""A corpus of hostile and broken media, generated here from the fixtures (nothing downloaded).

`corpus(url)` returns every case as a `Hostile`: the bytes, how the uploader names and declares
them, and how the evaluation must end (a failed payload, or a failing criterion) with which
words in the message. `url` is where the playlist-like cases point (a loopback server in the
tests, which must never be asked for anything).

`HOSTILE_JUDGE` has one criterion per content type, each passed by the intact fixtures, so a
"criterion" outcome means the damage was noticed, not that the judge was strict.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from .crafted_media import (
    apng_claiming_frames,
    bmp_claiming,
    fixture,
    gif,
    jpeg_claiming,
    mkv_claiming_duration,
    mp4_box_attacks,
    mp4_with_external_drefs,
    mp4_with_timing_tables,
    offset_of,
    patch,
    png_claiming,
    rf64_claiming_terabytes,
    tiff_chain,
    tiff_claiming,
    wav_claiming_4gib,
    webp_animated,
    webp_claiming,
)

# Used by the tests that take cases apart, through this module.
__all__ = ["HEADER_SURVIVES", "HOSTILE_JUDGE", "Hostile", "Loopback", "corpus", "fixture", "mp4_with_external_drefs",
           "offset_of", "patch", "playlists", "truncated"]  # fmt: skip

HOSTILE_JUDGE = {
    "judge_id": "judge_hostile",
    "name": "Header checks every intact fixture passes",
    "criteria": [
        {"criterion_id": "video", "detector": "video_specs", "params": {"min_width": 100, "min_duration_sec": 1}},
        {"criterion_id": "image", "detector": "image_dimensions", "params": {"allow_animation": False}},
        {"criterion_id": "audio", "detector": "audio_sample_rate", "params": {"min_duration_sec": 1}},
    ],
}


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    content_type: str  # as the uploader declares it
    outcome: str  # "failed": the evaluation fails; "criterion": it completes with a failing criterion
    message: str  # words the error (or the failing criterion's rationale) must contain
    filename: str = "upload.mp4"

    @property
    def mime(self) -> str:
        return {"video": "video/mp4", "image": "image/png", "audio": "audio/wav"}[self.content_type]


class Loopback:
    """An HTTP server that records every request of any method and answers 404."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if self.raw_requestline:
                    outer.requests.append(self.raw_requestline.decode(errors="replace").strip())
                    self.send_response(404)
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the corpus -----------------------------------------------------------------------------

UNREADABLE = "(is it complete and undamaged?)"
TOO_LARGE = ("too large to evaluate safely", "PIQUE_MAX_IMAGE_PIXELS")


def truncated(name: str, fraction: float) -> bytes:
    data = fixture(name)
    return data[: int(len(data) * fraction)]


def playlists(url: str) -> dict[str, bytes]:
    hls = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}/segment.ts\n#EXT-X-ENDLIST\n".encode()
    concat = f"ffconcat version 1.0\nfile '{url}/part.mp4'\nfile 'file:/etc/passwd'\n".encode()
    ftyp = fixture("phone_rotated_90.mp4")[:32]
    return {"hls": hls, "hls_bom": b"\xef\xbb\xbf" + hls, "ffconcat": concat, "hls_behind_ftyp": ftyp + hls, "ffconcat_behind_ftyp": ftyp + concat}


def corpus(url: str = "http://127.0.0.1:9") -> list[Hostile]:
    cases = [Hostile("zero_bytes", b"", "video", "failed", "the file is empty (0 bytes)")]
    cases += _truncated_cases() + _noise_cases() + _disguised_cases(url) + _claim_cases() + _count_cases()
    for label, (data, message) in mp4_box_attacks().items():
        cases.append(Hostile(label, data, "video", "failed", message))
    return cases


def _truncated_cases() -> list[Hostile]:
    H = Hostile
    cases = []
    # Truncated where the damage is visible from the header (moov/stream headers cut off).
    for name, ctype in (("moov_at_end_320x240_25fps.mp4", "video"), ("clip_320x240.mov", "video"), ("tone_48000_stereo.m4a", "audio")):
        for frac in (0.1, 0.5, 0.9):
            cases.append(H(f"truncated_{frac:.0%}_{name}", truncated(name, frac), ctype, "failed", UNREADABLE))
    cases.append(H("truncated_10%_tone_22050_mono.ogg", truncated("tone_22050_mono.ogg", 0.1), "audio", "failed", UNREADABLE))
    cases.append(H("truncated_10%_voice_16000_mono.opus", truncated("voice_16000_mono.opus", 0.1), "audio", "failed", UNREADABLE))
    cases.append(H("truncated_10%_tone_44100_stereo.mp3", truncated("tone_44100_stereo.mp3", 0.1), "audio", "failed", UNREADABLE))
    # Truncated where the header survives and describes the whole file: sizes in the header
    # (MP4 boxes, Matroska Segment, RIFF) or the missing end (PNG IEND, JPEG EOI, FLAC/MP3 frames).
    for name, ctype in HEADER_SURVIVES.items():
        for frac in (0.1, 0.5, 0.9):
            if name.endswith(".mp3") and frac == 0.1:
                continue  # too short for FFmpeg to find a frame: unreadable, above
            cases.append(H(f"truncated_{frac:.0%}_{name}", truncated(name, frac), ctype, "failed", "file is truncated", name))
    # A WAV's length is what is there: the shortened audio fails the 1 s minimum.
    for frac in (0.1, 0.5, 0.9):
        cases.append(H(f"truncated_{frac:.0%}_tone_44100_mono.wav", truncated("tone_44100_mono.wav", frac), "audio", "criterion",
                       f"duration {frac:.1f}s (required >= 1s)"))
    return cases


def _noise_cases() -> list[Hostile]:
    H = Hostile
    cases = []
    rng = np.random.default_rng(20240607)
    for i in range(4):
        cases.append(H(f"random_bytes_{i}", rng.integers(0, 256, 65536, dtype=np.uint8).tobytes(), "video", "failed", "not recognised media"))
    noise = rng.integers(0, 256, 65536, dtype=np.uint8).tobytes()
    for label, magic, ctype, message in (
        ("mpegts", b"\x47", "video", UNREADABLE),
        ("mp3", b"\xff\xfb", "audio", UNREADABLE),
        ("mp4", b"\x00\x00\x00\x18ftypisom", "video", UNREADABLE),
        ("matroska", b"\x1a\x45\xdf\xa3", "video", UNREADABLE),
        ("png", b"\x89PNG\r\n\x1a\n", "image", "starts like a PNG image but cannot be read"),
        ("wav", b"RIFF\xff\xff\xff\xffWAVE", "audio", UNREADABLE),
        ("ogg", b"OggS", "audio", UNREADABLE),
        ("flac", b"fLaC", "audio", UNREADABLE),
    ):
        cases.append(H(f"random_bytes_behind_{label}_magic", magic + noise, ctype, "failed", message))
    cases.append(H("random_bytes_starting_with_a_brace", b"{" + np.random.default_rng(7).integers(0, 256, 4095, dtype=np.uint8).tobytes(),
                   "video", "failed", "not recognised media"))
    return cases


def _disguised_cases(url: str) -> list[Hostile]:
    H = Hostile
    cases = []
    # One type named and declared as another.
    cases += [
        H("wav_named_and_declared_as_mp4", fixture("tone_44100_mono.wav"), "video", "failed",
          "the upload was declared as video but the file is audio (wav, 44100 Hz)", "clip.mp4"),
        H("png_named_and_declared_as_mp4", fixture("square_512.png"), "video", "failed",
          "the upload was declared as video but the file is an image (png, 512x512)", "clip.mp4"),
        H("mp4_named_and_declared_as_jpeg", fixture("phone_rotated_90.mp4"), "image", "failed",
          "the upload was declared as image but the file is a video (mp4, 360x640)", "photo.jpg"),
        H("jpeg_named_and_declared_as_wav", fixture("portrait_1080x1350.jpg"), "audio", "failed",
          "the upload was declared as audio but the file is an image (jpeg, 1080x1350)", "voice.wav"),
    ]

    # Playlists and concat scripts dressed as MP4 (and one named .m3u8): never followed.
    for label, data in playlists(url).items():
        expected = "FFmpeg cannot read this mp4 file" if label.endswith("_behind_ftyp") else "not a supported media file"
        cases.append(H(f"{label}_disguised_as_mp4", data, "video", "failed", expected, "clip.mp4"))
    cases.append(H("hls_named_m3u8", playlists(url)["hls"], "video", "failed", "HLS/M3U playlist", "index.m3u8"))
    return cases


def _claim_cases() -> list[Hostile]:
    H = Hostile
    cases = []
    # Headers claiming billions of pixels.
    for label, data in (
        ("png_100000x100000", png_claiming(100_000, 100_000)),
        ("png_2147483647_squared", png_claiming(2**31 - 1, 2**31 - 1)),
        ("gif_65535x65535", gif(65535, 65535)),
        ("jpeg_65500x65500", jpeg_claiming(65500, 65500)),
        ("webp_16777216_squared", webp_claiming(1 << 24, 1 << 24)),
        ("tiff_100000x100000", tiff_claiming(100_000, 100_000)),
        ("bmp_100000x100000", bmp_claiming(100_000, 100_000)),
    ):
        message = TOO_LARGE[1] if label.startswith("webp") else TOO_LARGE[0]
        cases.append(H(f"image_claiming_{label}", data, "image", "failed", message, "photo.png"))

    cases.append(H("gif_5000_frames", gif(1, 1, 5000), "image", "criterion", "frames 5000 (required 1 (no animation))", "anim.gif"))
    cases.append(H("wav_claiming_4gib", wav_claiming_4gib(), "audio", "criterion", "duration 0.0s (required >= 1s)", "a.wav"))
    cases.append(H("rf64_claiming_2tib", rf64_claiming_terabytes(), "audio", "criterion", "duration 0.0s (required >= 1s)", "a.wav"))
    cases.append(H("webm_claiming_a_trillion_seconds", mkv_claiming_duration(1e12), "video", "failed", "PIQUE_MAX_DURATION_SEC", "clip.webm"))
    return cases


def _count_cases() -> list[Hostile]:
    H = Hostile
    cases = []
    # Frame and sample counts an uploader controls: counted in work bounded by the file's size.
    cases += [
        H("tiff_20000_chained_ifds", tiff_chain(20_000), "image", "criterion", "frames 20000 (required 1 (no animation))", "scan.tif"),
        H("tiff_200000_chained_ifds", tiff_chain(200_000), "image", "failed", "more than 100,000 frames", "scan.tif"),
        H("tiff_ifd_chain_looping_back", tiff_chain(3, last_next=8), "image", "criterion", "frames 3 (required 1", "scan.tif"),
        H("tiff_ifd_past_the_end", tiff_chain(3, last_next=1 << 30), "image", "failed", "runs past the end of the file", "scan.tif"),
        H("gif_100001_frames", gif(1, 1, 100_001), "image", "failed", "more than 100,000 frames", "anim.gif"),
        H("webp_100001_frames", webp_animated(100_001), "image", "failed", "more than 100,000 frames", "anim.webp"),
        H("apng_claiming_a_billion_frames", apng_claiming_frames(10**9), "image", "failed", "more than 100,000 frames", "anim.png"),
        H("apng_claiming_more_frames_than_bytes", apng_claiming_frames(1000), "image", "failed", "more than its", "anim.png"),
        H("mp4_timing_tables_claim_1e9_samples_in_38s", mp4_with_timing_tables(10**9, 1), "video", "failed",
          "timing tables are inconsistent"),
        H("mp4_timing_tables_claim_more_frames_than_bytes", mp4_with_timing_tables(10**9, 512), "video", "failed",
          "timing tables are inconsistent"),
    ]
    return cases

# Fixtures whose header survives truncation and still describes the whole file, so the probe
# must notice the missing end by other means.
HEADER_SURVIVES = {
    "contract_576x1024_30fps.mp4": "video",  # faststart: moov first, mdat cut
    "clip_320x240.webm": "video",
    "clip_320x240.mkv": "video",
    "square_512.png": "image",
    "portrait_1080x1350.jpg": "image",
    "still_300x200.webp": "image",
    "tone_48000_stereo.flac": "audio",
    "tone_44100_stereo.mp3": "audio",
}
