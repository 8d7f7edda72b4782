"""Frame counts of multi-frame images cost work in proportion to the file, never more.

Work is counted in bytes fetched and read calls through a counting file, not in seconds.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pique_engine.errors import MediaLimitError, ProbeError
from pique_engine.media.image_frames import Window, apng_frames, gif_frames, tiff_frames
from pique_engine.media.probe import ProbeLimits, probe

from .. import crafted_media as hm


class Counting(io.BytesIO):
    """A file in memory that counts the bytes and calls of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0
        self.reads = 0

    def read(self, n: int | None = -1) -> bytes:
        out = super().read(n)
        self.bytes_read += len(out)
        self.reads += 1
        return out


@pytest.mark.parametrize("n", [1, 2, 7])
def test_tiff_frames_agree_with_pillow(n):
    data = hm.tiff_chain(n)
    with Image.open(io.BytesIO(data)) as img:
        assert tiff_frames(io.BytesIO(data), len(data), 100) == img.n_frames == n


def test_20000_chained_tiff_directories_are_counted_reading_the_file_about_once():
    data = hm.tiff_chain(20_000)
    f = Counting(data)
    assert tiff_frames(f, len(data), 100_000) == 20_000
    assert f.bytes_read <= 2 * len(data)
    assert f.reads <= 2 * len(data) // 8192 + 2


def test_the_whole_probe_of_a_20000_frame_tiff_reads_it_about_once():
    data = hm.tiff_chain(20_000)
    f = Counting(data)
    info = probe(f)
    assert (info.image.format, info.image.frames, info.image.width) == ("tiff", 20_000, 1)
    assert f.bytes_read <= 3 * len(data)


def test_a_tiff_with_more_directories_than_the_limit_stops_at_the_limit():
    limit = 1000
    data = hm.tiff_chain(5 * limit)
    f = Counting(data)
    with pytest.raises(MediaLimitError, match="more than 1,000 frames"):
        tiff_frames(f, len(data), limit)
    # It stopped after the limit's worth of directories, not at the end of the file.
    assert f.bytes_read <= (limit + 1) * hm.TIFF_IFD_BYTES + 2 * 8192


def test_the_frame_limit_comes_from_the_probe_limits():
    data = hm.tiff_chain(50)
    with pytest.raises(MediaLimitError, match="more than 49 frames"):
        probe(io.BytesIO(data), ProbeLimits(max_image_frames=49))
    assert probe(io.BytesIO(data), ProbeLimits(max_image_frames=50)).image.frames == 50


def test_a_directory_chain_that_loops_back_ends_where_it_repeats():
    data = hm.tiff_chain(4, last_next=8)  # the last directory points at the first
    with Image.open(io.BytesIO(data)) as img:
        assert tiff_frames(io.BytesIO(data), len(data), 100) == img.n_frames == 4


def test_a_directory_offset_past_the_end_is_damage():
    data = hm.tiff_chain(2, last_next=len(hm.tiff_chain(2)) + 100)
    with pytest.raises(ProbeError, match="image directory 3 at byte .* runs past the end"):
        tiff_frames(io.BytesIO(data), len(data), 100)


def test_directories_scattered_to_defeat_the_window_hit_the_read_budget():
    # Each directory's next offset jumps to the far end of the file and back, so a window read
    # per directory would fetch far more than the file holds.
    n, pad = 200, 16384
    ifd = hm.tiff_chain(1)[8:8 + hm.TIFF_IFD_BYTES]
    data = bytearray(b"II*\x00" + (8).to_bytes(4, "little"))
    offsets = [8 + i * hm.TIFF_IFD_BYTES if i % 2 == 0 else 8 + n * hm.TIFF_IFD_BYTES + pad + i * hm.TIFF_IFD_BYTES for i in range(n)]
    data += b"\x00" * (max(offsets) + hm.TIFF_IFD_BYTES - len(data))
    for i, at in enumerate(offsets):
        block = bytearray(ifd)
        nxt = offsets[i + 1] if i + 1 < n else 0
        block[2 + 12 * 9 : 2 + 12 * 9 + 4] = nxt.to_bytes(4, "little")
        data[at : at + len(block)] = block
    assert len(hm.tiff_chain(1)) < len(data) < 100_000
    f = Counting(bytes(data))
    with pytest.raises(ProbeError, match="frame headers are scattered"):
        tiff_frames(f, len(data), 100_000)
    assert f.bytes_read <= 4 * len(data) + (1 << 16) + 8192


def test_window_refuses_to_fetch_past_its_budget():
    window = Window(io.BytesIO(bytes(100_000)), chunk=1000, budget=5000)
    for pos in range(0, 5000, 1000):
        assert window.at(pos, 4) == bytes(4)
    with pytest.raises(ProbeError, match="read more than 5,000 bytes"):
        window.at(50_000, 4)


def test_gif_frames_are_counted_in_one_pass_and_stop_at_the_limit():
    data = hm.gif(1, 1, 5000)
    f = Counting(data)
    assert gif_frames(f, 100_000) == 5000
    assert f.bytes_read <= len(data)
    with pytest.raises(MediaLimitError, match="more than 4,999 frames"):
        gif_frames(io.BytesIO(data), 4999)


def test_webp_frames_stop_at_the_limit():
    assert probe(io.BytesIO(hm.webp_animated(3))).image.frames == 3
    with pytest.raises(MediaLimitError, match="more than 10 frames"):
        probe(io.BytesIO(hm.webp_animated(11)), ProbeLimits(max_image_frames=10))


def test_an_apng_frame_count_must_fit_the_file_and_the_limit():
    assert apng_frames(3, 1000, 100) == 3
    with pytest.raises(ProbeError, match="claims 1,000 frames, more than its 125 bytes can hold"):
        apng_frames(1000, 125, 100_000)
    with pytest.raises(MediaLimitError, match="more than 100 frames"):
        apng_frames(101, 10**9, 100)
    assert probe(io.BytesIO(hm.apng_claiming_frames(1))).image.frames == 1


def test_an_mpo_claiming_a_billion_images_is_read_as_its_base_jpeg():
    # Pillow parses the MP index (at most a 64 KiB segment) and refuses a count it does not hold.
    first, second = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    data = bytearray(out.getvalue())
    assert probe(io.BytesIO(bytes(data))).image.frames == 2
    count = data.find(b"\x01\xb0\x04\x00", data.find(b"MPF\x00"))  # tag B001, type LONG, little-endian
    data[count + 8 : count + 12] = (10**9).to_bytes(4, "little")
    with pytest.warns(UserWarning, match="malformed MPO"):
        assert probe(io.BytesIO(bytes(data))).image.frames == 1
