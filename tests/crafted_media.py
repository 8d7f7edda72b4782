"""Media bytes crafted in code: headers that claim huge sizes or counts, images made of
nothing but frame headers, and fixtures with patched MP4 boxes (nothing downloaded)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

MEDIA = Path(__file__).resolve().parent.parent / "fixtures" / "media"


def fixture(name: str) -> bytes:
    return (MEDIA / name).read_bytes()


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


def _tiff_entry(tag: int, kind: int, count: int, value: int) -> bytes:
    packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    return struct.pack("<HHI", tag, kind, count) + packed


def tiff_chain(n: int, *, last_next: int = 0) -> bytes:
    """A TIFF of `n` chained 1x1 grey images, each directory followed by its pixel; the last
    directory's next offset is `last_next` (0 ends the chain)."""
    # Directories differ only in their pixel offset (tag 273) and next offset: pack those into a
    # fixed template, as 200,000 directories built tag by tag take seconds.
    values = {256: 1, 257: 1, 258: 8, 259: 1, 262: 1, 277: 1, 278: 1, 279: 1}
    before = struct.pack("<H", len(_TIFF_TAGS)) + b"".join(_tiff_entry(*t, values[t[0]]) for t in _TIFF_TAGS if t[0] < 273)
    after = b"".join(_tiff_entry(*t, values[t[0]]) for t in _TIFF_TAGS if t[0] > 273)
    ifd = struct.Struct(f"<{len(before)}s8sI{len(after)}sI2s")
    pixel_tag = struct.pack("<HHI", 273, 4, 1)
    starts = range(8, 8 + n * TIFF_IFD_BYTES, TIFF_IFD_BYTES)
    return b"II*\x00" + struct.pack("<I", 8) + b"".join(
        ifd.pack(before, pixel_tag, start + TIFF_IFD_BYTES - 2, after, start + TIFF_IFD_BYTES if i < n - 1 else last_next, b"\x80\x00")
        for i, start in enumerate(starts)
    )


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
    """`depth` empty boxes, each inside the one before: their headers, outermost first."""
    return b"".join(struct.pack(">I", 8 * (depth - level)) + kind for level in range(depth))


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
