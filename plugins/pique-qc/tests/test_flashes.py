"""flashes: strobes at 2, 3, 4 and 8 Hz against the WCAG 2.3.1 general flash threshold."""

from __future__ import annotations

import numpy as np
import pytest

from qc_kit import encode, metrics, run

W, H = 96, 160  # a 9:16 frame


def strobe(hz: float, *, share: float = 1.0, start: float = 0.0):
    """Dark (luma 16) and bright (235) half-periods from `start` s, over the top `share` of the frame."""
    rows = int(round(H * share))

    def picture(_index: int, t: float) -> np.ndarray:
        y = np.full((H, W), 16, np.uint8)
        if t >= start and int((t - start) * 2 * hz) % 2 == 0:
            y[:rows] = 235
        return y

    return picture


@pytest.mark.parametrize(("hz", "passes"), [(2, True), (3, True), (4, False), (8, False)])
def test_strobes_over_three_flashes_a_second_fail(media_dir, hz, passes):
    path = encode(media_dir / f"strobe_{hz}.mp4", strobe(hz), width=W, height=H, seconds=3)
    result = run("flashes", path)
    m = result.metrics["flashes"]
    assert result.pass_check is passes, m
    assert m["max_flashes_per_sec"] == pytest.approx(hz, abs=1)
    assert bool(m["segments"]) is not passes


def test_a_strobe_over_a_tenth_of_the_frame_is_not_a_general_flash(media_dir):
    path = encode(media_dir / "small.mp4", strobe(8, share=0.1), width=W, height=H, seconds=2)
    assert metrics("flashes", path)["max_flashes_per_sec"] == 0


def test_flashing_segment_is_where_the_strobe_is_on_a_rotated_phone_video(media_dir):
    picture = strobe(6, start=2.0)
    path = encode(media_dir / "phone.mp4", lambda i, t: picture(i, t).T.copy(), width=H, height=W, seconds=4, rotation=90)
    m = metrics("flashes", path)
    assert len(m["segments"]) == 1
    start, end = m["segments"][0]
    assert 2.0 <= start <= 2.5 and end == pytest.approx(4.0, abs=0.1)
