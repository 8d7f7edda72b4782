"""Mutations of media bytes for the probe fuzzer (`fuzz_probe`), as plain tuples of small ints."""

from __future__ import annotations

import random
import struct

# Values that make size and count fields interesting: zero, tiny, one past, huge, negative.
INTERESTING_32 = (0, 1, 7, 8, 16, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF)

# An op is a tuple of small ints so Hypothesis can draw and shrink it and `random` can make it.
# ("flip", pos, bit) ("byte", pos, value) ("u32be"|"u32le", pos, value index) ("truncate", pos)
# ("delete", pos, length) ("dup", pos, length) ("splice", donor, donor pos, length, pos)

OPS = ("flip", "byte", "u32be", "u32le", "truncate", "delete", "dup", "splice")


def apply(data: bytes, ops, donors: list[bytes]) -> bytes:
    """Apply mutation `ops` to `data` in order; positions wrap around the current length."""
    buf = bytearray(data)
    for op in ops:
        kind, args = op[0], op[1:]
        n = len(buf)
        if n == 0 and kind != "splice":
            continue
        if kind == "flip":
            pos, bit = args
            buf[pos % n] ^= 1 << (bit % 8)
        elif kind == "byte":
            pos, value = args
            buf[pos % n] = value % 256
        elif kind in ("u32be", "u32le"):
            pos, index = args
            pos %= n
            packed = struct.pack(">I" if kind == "u32be" else "<I", INTERESTING_32[index % len(INTERESTING_32)])
            buf[pos : pos + 4] = packed[: max(0, min(4, n - pos))]
        elif kind == "truncate":
            (pos,) = args
            del buf[pos % (n + 1) :]
        elif kind == "delete":
            pos, length = args
            pos %= n
            del buf[pos : pos + length]
        elif kind == "dup":
            pos, length = args
            pos %= n
            buf[pos:pos] = buf[pos : pos + length]
        elif kind == "splice":
            donor, dpos, length, pos = args
            src = donors[donor % len(donors)]
            if src:
                dpos %= len(src)
                buf[pos % (n + 1) : pos % (n + 1)] = src[dpos : dpos + length]
    return bytes(buf)


def random_ops(rng: random.Random, size: int, n_donors: int) -> list[tuple]:
    """1-4 ops, positions biased towards the header, where the parsers make decisions."""

    def pos() -> int:
        return rng.randrange(min(size, 512) or 1) if rng.random() < 0.6 else rng.randrange(max(size, 1))

    ops: list[tuple] = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(OPS)
        if kind == "flip":
            ops.append((kind, pos(), rng.randrange(8)))
        elif kind == "byte":
            ops.append((kind, pos(), rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))))
        elif kind in ("u32be", "u32le"):
            ops.append((kind, pos(), rng.randrange(len(INTERESTING_32))))
        elif kind == "truncate":
            ops.append((kind, rng.randrange(max(size, 1))))
        elif kind in ("delete", "dup"):
            ops.append((kind, pos(), rng.choice((1, 4, 8, 16, rng.randrange(1, 4096)))))
        else:
            ops.append((kind, rng.randrange(n_donors), rng.randrange(1 << 16), rng.randrange(1, 4096), pos()))
    return ops
