"""A corpus of hostile and broken media, generated here from the fixtures (nothing downloaded).

`corpus(url)` returns every case as a `Hostile`: the bytes, how the uploader names and declares
them, and how the evaluation must end (a failed payload, or a failing criterion) with which
words in the message. `url` is where the playlist-like cases point (a loopback server in the
tests, which must never be asked for anything).

`HOSTILE_JUDGE` has one criterion per content type, each passed by the intact fixtures, so a
"criterion" outcome means the damage was noticed, not that the judge was strict.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

MEDIA = Path(__file__).resolve().parent.parent / "fixtures" / "media"

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


def fixture(name: str) -> bytes:
    return (MEDIA / name).read_bytes()


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


# -- PNG, GIF, JPEG, WebP, TIFF, BMP headers that claim huge sizes ----------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b"")


def gif(width: int, height: int, frames: int = 1) -> bytes:
    """A GIF with a 2-colour table and `frames` 1x1 images (a few bytes each)."""
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    if frames > 1:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return out + image * frames + b"\x3b"


def jpeg_claiming(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp_claiming(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def tiff_claiming(width: int, height: int) -> bytes:
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
            (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 1)]  # fmt: skip
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *tag) for tag in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def bmp_claiming(width: int, height: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)


# -- images built of nothing but frame headers ---------------------------------------------

_TIFF_TAGS = ((256, 3, 1), (257, 3, 1), (258, 3, 1), (259, 3, 1), (262, 3, 1), (273, 4, 1), (277, 3, 1), (278, 3, 1), (279, 4, 1))
TIFF_IFD_BYTES = 2 + 12 * len(_TIFF_TAGS) + 4 + 2  # the directory, then 2 bytes of pixels (1 used)


def tiff_chain(n: int, *, last_next: int = 0) -> bytes:
    """A TIFF of `n` chained 1x1 grey images, each directory followed by its pixel; the last
    directory's next offset is `last_next` (0 ends the chain)."""
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for i in range(n):
        start = len(out)
        pixel = start + TIFF_IFD_BYTES - 2
        values = {256: 1, 257: 1, 258: 8, 259: 1, 262: 1, 273: pixel, 277: 1, 278: 1, 279: 1}
        out += struct.pack("<H", len(_TIFF_TAGS))
        for tag, kind, count in _TIFF_TAGS:
            value = struct.pack("<HH", values[tag], 0) if kind == 3 else struct.pack("<I", values[tag])
            out += struct.pack("<HHI", tag, kind, count) + value
        out += struct.pack("<I", start + TIFF_IFD_BYTES if i < n - 1 else last_next) + b"\x80\x00"
    return bytes(out)


def apng_claiming_frames(n: int) -> bytes:
    """A 1x1 PNG whose animation control chunk claims `n` frames (it holds one)."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    actl = struct.pack(">II", n, 0)
    fctl = struct.pack(">IIIIIHHBB", 0, 1, 1, 0, 0, 1, 10, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"acTL", actl) + _png_chunk(b"fcTL", fctl)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00\x80")) + _png_chunk(b"IEND", b""))  # fmt: skip


def webp_animated(frames: int) -> bytes:
    """An animated WebP whose `frames` ANMF chunks hold only their frame headers."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x02, 0, 0, 0]) + (0).to_bytes(3, "little") * 2
    anim = b"ANIM" + struct.pack("<I", 6) + b"\x00" * 6
    anmf = b"ANMF" + struct.pack("<I", 16) + b"\x00" * 6 + b"\x00" * 6 + b"\x64\x00\x00\x00"
    body = b"WEBP" + vp8x + anim + anmf * frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- WAV headers that claim terabytes -------------------------------------------------------


def wav_claiming_4gib() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 2, 44100, 44100 * 4, 4, 16)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 4096)  # fmt: skip


def rf64_claiming_terabytes(n_bytes: int = 2 << 40) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 2, 44100, 44100 * 4, 4, 16)
    ds64 = struct.pack("<QQQI", n_bytes, n_bytes, n_bytes // 4, 0)
    return (b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"ds64" + struct.pack("<I", len(ds64)) + ds64
            + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 4096)  # fmt: skip


# -- MP4 boxes ------------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta"}


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def parse_boxes(data: bytes) -> list[list]:
    """[kind, payload bytes | children] for well-formed 32-bit-size boxes (the fixtures')."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        payload = data[pos + 8 : pos + size]
        out.append([kind, parse_boxes(payload) if kind in _CONTAINERS else payload])
        pos += size
    return out


def build_boxes(boxes: list[list]) -> bytes:
    return b"".join(box(kind, build_boxes(body) if isinstance(body, list) else body) for kind, body in boxes)


def walk(boxes: list[list]):
    for b in boxes:
        yield b
        if isinstance(b[1], list):
            yield from walk(b[1])


def offset_of(data: bytes, *path: bytes) -> int:
    """Byte offset of the box at `path` (first match at each level)."""
    pos, end = 0, len(data)
    for depth, kind in enumerate(path):
        while pos + 8 <= end:
            size, k = struct.unpack(">I4s", data[pos : pos + 8])
            if k == kind:
                break
            pos += size
        else:
            raise KeyError(path[: depth + 1])
        if depth < len(path) - 1:
            end, pos = pos + size, pos + 8
    return pos


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def nested(depth: int, kind: bytes = b"trak") -> bytes:
    inner = b""
    for _ in range(depth):
        inner = box(kind, inner)
    return inner


def mp4_with_external_drefs(url: str) -> bytes:
    """The moov-at-end fixture with every track's data reference pointing at `url`.

    moov comes after mdat there, so growing it moves no sample offset.
    """
    boxes = parse_boxes(fixture("moov_at_end_320x240_25fps.mp4"))
    entry = box(b"url ", b"\x00\x00\x00\x00" + url.encode() + b"\x00")  # flags 0: the samples are elsewhere
    for b in walk(boxes):
        if b[0] == b"dref":
            b[1] = b"\x00\x00\x00\x00" + struct.pack(">I", 1) + entry
    return build_boxes(boxes)


def mp4_box_attacks() -> dict[str, tuple[bytes, str]]:
    d = fixture("phone_rotated_90.mp4")
    ftyp, rest = d[:32], d[32:]
    moov = offset_of(d, b"moov")
    moov_end = moov + struct.unpack(">I", d[moov : moov + 4])[0]
    trak = offset_of(d, b"moov", b"trak")
    avc1 = offset_of(d, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd") + 16
    unreadable = "FFmpeg cannot read this mp4 file (is it complete and undamaged?)"
    return {
        "mp4_box_size_4_points_backwards": (ftyp + b"\x00\x00\x00\x04free" + rest, unreadable),
        "mp4_box_size_0_swallows_the_rest": (ftyp + b"\x00\x00\x00\x00free" + rest, unreadable),
        "mp4_box_largesize_2_64": (ftyp + struct.pack(">I4sQ", 1, b"free", 2**64 - 1) + rest, unreadable),
        "mp4_box_largesize_below_header": (ftyp + struct.pack(">I4sQ", 1, b"free", 3) + rest, unreadable),
        "mp4_moov_size_points_backwards": (patch(d, moov, ">I", 4), unreadable),
        "mp4_trak_size_points_backwards": (patch(d, trak, ">I", 4), "has no video or audio stream"),
        "mp4_100k_nested_boxes": (ftyp + box(b"moov", nested(100_000)) + rest, "has no video or audio stream"),
        "mp4_20k_nested_boxes_inside_moov": (ftyp + box(b"moov", d[moov + 8 : moov_end] + nested(20_000, b"udta")) + d[moov_end:], unreadable),
        "mp4_200k_sibling_boxes": (ftyp + box(b"moov", b"\x00\x00\x00\x08free" * 200_000) + rest, "has no video or audio stream"),
        "mp4_claims_65535x65535": (patch(patch(d, avc1 + 32, ">H", 65535), avc1 + 34, ">H", 65535), "declares no picture size"),
    }


def mp4_with_timing_tables(samples: int, delta: int) -> bytes:
    """The contract fixture whose video `stts` claims `samples` samples of `delta` ticks each."""
    d = fixture("contract_576x1024_30fps.mp4")
    stts = offset_of(d, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts")
    return patch(patch(d, stts + 16, ">I", samples), stts + 20, ">I", delta)


def mkv_claiming_duration(seconds: float) -> bytes:
    d = bytearray(fixture("clip_320x240.webm"))
    i = d.find(b"\x44\x89\x88")  # Segment Info > Duration, an 8-byte float
    struct.pack_into(">d", d, i + 3, seconds * 1000)  # in TimecodeScale units (1 ms)
    return bytes(d)


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
    H = Hostile
    cases = [H("zero_bytes", b"", "video", "failed", "the file is empty (0 bytes)")]

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
        H("random_bytes_starting_with_a_brace", b"{" + np.random.default_rng(7).integers(0, 256, 4095, dtype=np.uint8).tobytes(),
          "video", "failed", "not recognised media"),
    ]

    for label, (data, message) in mp4_box_attacks().items():
        cases.append(H(label, data, "video", "failed", message))
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
