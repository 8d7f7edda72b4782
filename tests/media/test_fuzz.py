"""A short, derandomized fuzz of the probe and the built-in detectors, and the inputs it found.

The long run is ``python -m tests.fuzz_probe --seconds N`` (see its docstring). Inputs it
found are kept in ``tests/regressions/`` (minimized with ``--minimize``) or generated below;
those that still expose an unfixed bug are strict xfails naming it, so the fix shows up as
an XPASS: then drop the xfail and its entry in `KNOWN`.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .. import hostile_media as hm
from ..fuzz_probe import INTERESTING_32, REGRESSIONS, SEEDS, apply, find_problem, seed_corpus

CORPUS = seed_corpus()

# Findings of the long run that wait for a fix elsewhere (by `Finding.summary`); the quick run
# must not fail on them.
KNOWN: set[str] = set()

position = st.integers(0, 1 << 16)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("byte"), position, st.integers(0, 255)),
        st.tuples(st.sampled_from(["u32be", "u32le"]), position, st.integers(0, len(INTERESTING_32) - 1)),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.sampled_from(["delete", "dup"]), position, st.integers(1, 4096)),
        st.tuples(st.just("splice"), st.integers(0, len(CORPUS) - 1), position, st.integers(1, 4096), position),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    derandomize=True,
    max_examples=int(os.environ.get("PIQUE_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(seed=st.integers(0, len(SEEDS) - 1), mutations=ops)
def test_mutated_fixtures_are_described_or_refused_with_a_media_error(seed, mutations):
    finding = find_problem(apply(CORPUS[seed], mutations, CORPUS))
    assert finding is None or finding.summary in KNOWN, finding and finding.detail


def test_the_mutations_do_what_they_say():
    data = bytes(range(16))
    assert apply(data, [("flip", 0, 0)], []) == b"\x01" + data[1:]
    assert apply(data, [("u32be", 4, INTERESTING_32.index(0xFFFFFFFF))], [])[4:8] == b"\xff" * 4
    assert apply(data, [("truncate", 5)], []) == data[:5]
    assert apply(data, [("dup", 2, 2)], []) == data[:4] + data[2:]
    assert apply(data, [("splice", 0, 1, 2, 0)], [b"abcd"]) == b"bc" + data


def test_clean_fixtures_are_not_findings():
    assert all(find_problem(data) is None for data in CORPUS)


def _cut_after_hdlr(track_index: int) -> bytes:
    """phone_rotated_90.mp4 cut right after one track's handler box: no sample description."""
    d = hm.fixture("phone_rotated_90.mp4")
    moov = hm.offset_of(d, b"moov")
    pos, traks = moov + 8, []
    while pos < moov + struct.unpack(">I", d[moov : moov + 4])[0]:
        size, kind = struct.unpack(">I4s", d[pos : pos + 8])
        traks.append(pos) if kind == b"trak" else None
        pos += size
    hdlr = d.find(b"hdlr", traks[track_index]) - 4
    return d[: hdlr + struct.unpack(">I", d[hdlr : hdlr + 4])[0]]


# Inputs whose bug is not fixed yet: name -> the bug, for a strict xfail. Fixed so far:
# - probe-video-trak-without-sample-description.bin, and the generated "trak cut after hdlr"
#   inputs: a stream without stsd had codec_context None; _described() raised AttributeError.
# - probe-fps-rounded-to-zero.bin: average_rate 5120/645670609 was reported as fps 0.0.
# - decode-mp3-samples-far-outside-unit-range.bin: libsndfile decoded a damaged MP3 to samples
#   up to 2.2e8 (audio_blocks documents [-1, 1]).
# - "mov audio packet damaged": a midstream AAC layout change made AudioResampler raise
#   ValueError instead of a PiqueError.
# - probe-mp3-tail-check-negative-read.bin: a Xing header claiming more frames than exist made
#   the truncation check's tail read raise ValueError instead of a ProbeError.
XFAIL: dict[str, str] = {}


def regression_inputs():
    for path in sorted(Path(REGRESSIONS).glob("*.bin")):
        yield path.name, path.read_bytes()
    yield "generated: video trak cut after hdlr", _cut_after_hdlr(0)
    yield "generated: audio trak cut after hdlr", _cut_after_hdlr(1)
    mov = bytearray(hm.fixture("clip_320x240.mov"))
    mov[6171], mov[6173], mov[6174] = 0x08, 0x00, 0x00
    yield "generated: mov audio packet damaged", bytes(mov)


def _params():
    for name, data in regression_inputs():
        reason = XFAIL.get(name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(data, id=name, marks=marks)


@pytest.mark.parametrize("data", list(_params()))
def test_inputs_the_fuzzer_found_are_described_or_refused_with_a_media_error(data):
    finding = find_problem(data)
    assert finding is None, finding.detail
