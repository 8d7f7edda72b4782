"""`onscreen_text` on generated video: DejaVu words in several sizes, colours and places, on a moving background."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pique_engine import synth
from pique_safety import onscreen_text
from safety_media import font, moving_background, run_content, write_rgb_video

W, H, FPS, SECONDS = 640, 360, 10, 12


@dataclass(frozen=True)
class Caption:
    text: str
    font: str
    size: int
    colour: tuple[int, int, int]
    xy: tuple[int, int]
    start: float
    end: float
    plate: tuple[int, int, int] | None = None  # a box behind the words, as subtitles have


CAPTIONS = [
    Caption("SUMMER SALE", "DejaVuSans-Bold.ttf", 56, (255, 255, 0), (30, 20), 0.5, 5.5),
    Caption("Fresh coffee daily", "DejaVuSerif.ttf", 34, (20, 20, 20), (250, 290), 2.5, 8.5, plate=(235, 235, 235)),
    Caption("Cold beer tonight", "DejaVuSansMono.ttf", 30, (255, 255, 255), (180, 160), 4.5, 7.5),
    Caption("Crème brûlée", "DejaVuSans.ttf", 44, (255, 60, 60), (40, 100), 8.5, 11.5, plate=(10, 10, 40)),
]


def picture(t: float) -> np.ndarray:
    image = Image.fromarray(moving_background(W, H, t))
    draw = ImageDraw.Draw(image)
    for c in CAPTIONS:
        if c.start <= t < c.end:
            f = font(c.font, c.size)
            if c.plate:
                x0, y0, x1, y1 = draw.textbbox(c.xy, c.text, font=f)
                draw.rectangle((x0 - 8, y0 - 6, x1 + 8, y1 + 6), fill=c.plate)
            draw.text(c.xy, c.text, font=f, fill=c.colour)
    return np.asarray(image)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_rgb_video(tmp_path_factory.mktemp("ocr") / "captions.mp4", picture, width=W, height=H, fps=FPS, seconds=SECONDS)


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


SAMPLE_FPS = 1.0


@pytest.fixture(scope="module")
def read(clip):
    return run_content(onscreen_text, clip, {"sample_fps": SAMPLE_FPS, "forbidden_words": ["BEER"],
                                              "required_words": ["creme brulee", "coffee"]})


def test_every_caption_is_read_with_a_character_error_rate_under_5_percent(read):
    texts = read.metrics["onscreen_text"]["texts"]
    errors = total = 0
    for c in CAPTIONS:
        best = min(texts, key=lambda t: edit_distance(t["text"], c.text))
        errors += edit_distance(best["text"], c.text)
        total += len(c.text)
    assert errors / total <= 0.05, (errors, total, [t["text"] for t in texts])


def test_each_caption_appears_and_disappears_within_one_sampled_frame(read):
    step = 1 / SAMPLE_FPS
    texts = read.metrics["onscreen_text"]["texts"]
    for c in CAPTIONS:
        entries = [t for t in texts if edit_distance(t["text"], c.text) <= 2]
        assert len(entries) == 1, (c.text, entries)  # deduplicated across consecutive frames
        first, last = entries[0]["t"], entries[0]["until"]
        assert c.start <= first <= c.start + step, (c.text, first)
        assert c.end - step <= last < c.end, (c.text, last)


def test_boxes_are_where_the_words_were_drawn(read):
    texts = read.metrics["onscreen_text"]["texts"]
    for c in CAPTIONS:
        entry = next(t for t in texts if edit_distance(t["text"], c.text) <= 2)
        x, y, w, h = entry["box"]
        assert abs(x - c.xy[0]) <= 16 and abs(y - c.xy[1]) <= 16, (c.text, entry["box"])
        assert h >= c.size * 0.6


def test_forbidden_words_flag_exactly_the_frames_showing_them(read):
    beer = next(c for c in CAPTIONS if "beer" in c.text)
    shown = [t for t in np.arange(0, SECONDS, 1 / SAMPLE_FPS) if beer.start <= t < beer.end]
    m = read.metrics["onscreen_text"]
    flagged = next(w for w in m["matched_words"] if w["list"] == "forbidden")
    assert flagged["word"] == "BEER"
    assert flagged["times"] == pytest.approx(shown, abs=0.05)
    assert not read.pass_check
    assert "forbidden word 'BEER' shown at 5.0, 6.0, 7.0 s (3 frames)" in read.rationale


def test_required_words_match_without_accents_or_case(read):
    m = read.metrics["onscreen_text"]
    required = {w["word"]: w["times"] for w in m["matched_words"] if w["list"] == "required"}
    assert required["creme brulee"] == pytest.approx([9.0, 10.0, 11.0], abs=0.05)
    assert set(required) == {"creme brulee", "coffee"}
    assert read.score == pytest.approx(2 / 3, abs=1e-3)  # 1 of 3 checks failed: the forbidden word


def test_a_frame_without_text_reads_nothing(tmp_path):
    path = synth.write_video(tmp_path / "bars.mp4", width=320, height=240, seconds=4, audio_rate=None)
    result = run_content(onscreen_text, path, {"max_text_area_ratio": 0.01, "required_words": ["sale"]})
    m = result.metrics["onscreen_text"]
    assert m["texts"] == [] and m["text_area_ratio"] == 0.0 and m["frames_read"] == 2
    assert result.rationale == "1 of 2 checks failed: required word 'sale' not shown (required shown)"


def test_text_area_ratio_is_the_share_of_the_frame_under_text(tmp_path):
    path = synth.write_video(tmp_path / "big.mp4", width=640, height=360, seconds=2, audio_rate=None,
                             picture=synth.with_text(synth.moving_bars(640, 360, 30), "HUGE", size=150, xy=(40, 80)))
    result = run_content(onscreen_text, path, {"max_text_area_ratio": 0.05})
    m = result.metrics["onscreen_text"]
    assert [t["text"] for t in m["texts"]] == ["HUGE"]
    x, y, w, h = m["texts"][0]["box"]
    assert m["text_area_ratio"] == pytest.approx(w * h / (640 * 360), abs=0.01)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("L", (640, 360))).textbbox((40, 80), "HUGE", font=font("DejaVuSans.ttf", 150))
    ink = (x1 - x0) * (y1 - y0) / (640 * 360)
    # The detector's boxes pad the glyphs' ink by a margin, as PP-OCR's detection does.
    assert ink <= m["text_area_ratio"] <= 1.8 * ink
    assert not result.pass_check and "text area ratio" in result.rationale
