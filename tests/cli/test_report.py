"""`--report`: one self-contained HTML page per run, with verdicts, metrics, a timeline of the
ranges detectors report (found by shape) and thumbnails of the frames at those moments.

A test plugin, installed through an entry point and selected with PIQUE_LOAD_PLUGINS, reports
ranges and moments on a generated video whose bright bar moves once a second, so a thumbnail
shows which second it was taken from. Its rationale and metrics carry HTML, as a hostile
plugin or upload could.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pique_engine import synth
from pique_engine.cli.timeline import Span, moments, tracks
from pique_engine.payloads import CriterionResult

from ..conftest import ROOT, require_service
from ..test_plugins import make_dist

CHROMIUM = Path("/usr/bin/chromium")
EVIL = '<img src=x onerror="alert(1)">'
PLUGIN = f"""
from pique_engine import Detector, DetectorResult, hookimpl

EVIL = {EVIL!r}

def scenes(media, params):
    metrics = {{
        "segments": [[0.5, 1.2], [2.2, 2.8]],
        "cuts": [1.5],
        "flagged_frames": [{{"t": 2.5, "label": EVIL}}],
        "sample_rates": [44100],  # numbers, but not moments: far past the end of the video
        "comment": EVIL,
    }}
    return DetectorResult(score=0.5, pass_check=False, rationale="2 dark segments " + EVIL, metrics={{"fake_scenes": metrics}})

@hookimpl
def register_detectors(register):
    register(Detector(name="fake_scenes", content_types={{"video"}}, evaluate=scenes))
"""
JUDGE = {
    "judge_id": "judge_report",
    "criteria": [
        {"criterion_id": "specs", "detector": "video_specs", "params": {"min_width": 64}},
        {"criterion_id": "scenes", "detector": "fake_scenes"},
        {"criterion_id": "picture", "detector": "image_dimensions", "params": {"min_width": 64}},
    ],
}
WIDTH, HEIGHT, BAR = 320, 192, 320 // 16  # synth's bar: WIDTH // 16 wide, one step right per second


class Page(HTMLParser):
    """The parts of the report a test checks: sections, criteria, tracks, spans, images."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[dict] = []
        self.images: list[dict] = []
        self.external: list[str] = []
        self.root: dict = {}
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if tag == "html":
            self.root = a
        if tag == "section" and "file" in cls.split():
            self.sections.append({"criteria": [], "tracks": [], "spans": [], "images": [], "text": []})
        fetched = [v for k, v in attrs if k in ("src", "href") and not (v or "").startswith("data:")]
        if tag in ("link", "iframe", "object", "embed") or fetched:
            self.external.append(tag)
        if not self.sections:
            return
        here = self.sections[-1]
        if tag == "tr" and cls == "criterion":
            here["criteria"].append([])
        if tag == "td" and here["criteria"] and self._cell is None and len(here["criteria"][-1]) < 3:
            self._cell = here["criteria"][-1]
        if tag == "div" and cls == "track":
            here["tracks"].append((a["data-detector"], a["data-key"], int(a["data-spans"])))
        if tag == "div" and cls in ("range", "moment"):
            here["spans"].append(a["title"])
        if tag == "img":
            here["images"].append(a)
            self.images.append(a)

    def handle_data(self, data):
        if self.sections:
            self.sections[-1]["text"].append(data)
        if self._cell is not None and data.strip():
            self._cell.append(data.strip())
            self._cell = None


def decoded(img: dict) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert img["src"].startswith(prefix)
    picture = Image.open(io.BytesIO(base64.b64decode(img["src"][len(prefix):], validate=True)))
    picture.load()
    return picture


def bar_column(picture: Image.Image) -> float:
    """Where the bright bar is, as a share of the picture's width."""
    luma = np.asarray(picture.convert("L"), np.float32).mean(axis=0)
    return float(np.argmax(luma)) / picture.width


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`pique-engine evaluate VIDEO IMAGE --report`, as a user runs it (sandboxed, plugin by entry point)."""
    tmp = tmp_path_factory.mktemp("report")
    site = tmp / "site"
    site.mkdir()
    make_dist(site, "fake-scenes", PLUGIN)
    video = synth.write_video(tmp / "evil <i>clip & co.mp4", width=WIDTH, height=HEIGHT, fps=10, seconds=3)
    image = synth.write_image(tmp / "still.png", width=300, height=200)
    broken = tmp / "broken.mp4"
    broken.write_bytes(b"")
    judge = tmp / "judge.json"
    judge.write_text(json.dumps(JUDGE))
    out = tmp / "report.html"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "PIQUE_LOAD_PLUGINS": "fake_scenes"}
    r = subprocess.run([sys.executable, "-m", "pique_engine", "evaluate", str(video), str(image), str(broken), "--judge", str(judge), "--report", str(out)],
                       capture_output=True, text=True, env=env, timeout=240)
    return r, out


@pytest.mark.integration
def test_evaluate_still_prints_one_json_line_per_file_and_names_the_report_on_stderr(run):
    r, out = run
    assert r.returncode == 1, r.stderr  # the empty file failed
    payloads = [json.loads(line) for line in r.stdout.splitlines()]
    assert [p["status"] for p in payloads] == ["completed", "completed", "failed"]
    assert f"report written to {out}" in r.stderr


@pytest.mark.integration
def test_a_file_that_could_not_be_evaluated_shows_its_error(run):
    text = run[1].read_text()
    broken = Page(text).sections[2]
    said = "".join(broken["text"])
    assert "broken.mp4" in said and "failed" in said and "the file is empty (0 bytes)" in said
    assert broken["criteria"] == [] and broken["tracks"] == [] and broken["images"] == []
    assert "3 file(s), 2 evaluated, 1 failed" in text


@pytest.mark.integration
def test_report_shows_every_criterion_with_its_verdict_and_escapes_what_files_and_plugins_say(run):
    _, out = run
    text = out.read_text()
    page = Page(text)
    video, image, _ = page.sections
    assert video["criteria"] == [["specs", "video_specs", "pass"], ["scenes", "fake_scenes", "fail"]]
    assert image["criteria"] == [["picture", "image_dimensions", "pass"]]
    assert "overall score 0.750" in "".join(video["text"])
    assert EVIL not in text and "<i>clip" not in text and not page.external
    seen = "".join(video["text"])
    assert "2 dark segments " + EVIL in seen  # shown as text, exactly as the plugin said it
    assert "evil <i>clip & co.mp4" in seen
    assert "comment" in seen


@pytest.mark.integration
def test_report_draws_every_range_and_moment_labelled_by_detector_and_key(run):
    video, image, _ = Page(run[1].read_text()).sections
    assert video["tracks"] == [("fake_scenes", "segments", 2), ("fake_scenes", "cuts", 1), ("fake_scenes", "flagged_frames", 1)]
    assert video["spans"] == ["0.50–1.20 s", "2.20–2.80 s", "1.50 s", "2.50 s · label: " + EVIL]
    assert image["tracks"] == [] and image["spans"] == []


@pytest.mark.integration
def test_thumbnails_are_small_jpegs_of_the_frames_at_those_moments(run):
    video, image, _ = Page(run[1].read_text()).sections
    assert [img["alt"] for img in video["images"]] == ["0.50 s", "1.50 s", "2.20 s", "2.50 s"]
    seconds = [0, 1, 2, 2]
    for img, second in zip(video["images"], seconds):
        picture = decoded(img)
        assert picture.format == "JPEG" and max(picture.size) <= 192
        assert picture.size == (int(img["width"]), int(img["height"])) == (192, 115)
        assert bar_column(picture) == pytest.approx((second * BAR + BAR / 2) / WIDTH, abs=0.03)
    (still,) = image["images"]
    assert decoded(still).size == (192, 128) and still["alt"] == "the image"


@pytest.mark.integration
def test_report_renders_in_headless_chromium_with_every_thumbnail_loaded(run, tmp_path):
    require_service(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    out = run[1]
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2000"]
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", out.as_uri()], capture_output=True, timeout=180, check=True)
    pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
    assert pixels.shape == (2000, 1200)
    assert pixels.std() > 20, "the screenshot is blank"
    dom = subprocess.run([*flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=180, check=True).stdout
    assert Page(dom).root.get("data-images") == "5/5"  # set by the page's script once every image has decoded


def _result(metrics: dict, detector: str = "det") -> CriterionResult:
    return CriterionResult(criterion_id="c", detector_name=detector, pass_check=True, score=1.0, rationale="", metrics={detector: metrics})


def test_shapes_are_recognised_wherever_a_detector_nests_them():
    found = tracks([_result({
        "speech": {"segments": [{"start": 1, "end": 2.5, "speaker": "A"}]},
        "black_segments": [[0, 0.4]],
        "texts": [{"t": 3, "text": "SALE"}],
        "cuts": [0, 4.2],
    })], duration_sec=5.0)
    assert [(t.key, t.spans) for t in found] == [
        ("speech.segments", (Span(start=1, end=2.5, note="speaker: A"),)),
        ("black_segments", (Span(start=0, end=0.4),)),
        ("texts", (Span(start=3, note="text: SALE"),)),
        ("cuts", (Span(start=0), Span(start=4.2))),
    ]


@pytest.mark.parametrize("value", [
    [44100, 48000],  # past the end of the media
    [-1.0, 2.0],  # negative
    [True, False],  # booleans are not times
    [[2.0, 1.0]],  # a range that ends before it starts
    [[1.0, 2.0], "x"],  # mixed
    [{"t": "1.0"}],  # a time as text
    [float("nan")],
])
def test_values_that_are_not_times_are_not_drawn(value):
    assert tracks([_result({"k": value})], duration_sec=10.0) == []


def test_bare_numbers_are_not_moments_when_the_duration_is_unknown():
    assert tracks([_result({"cuts": [1.0]})], duration_sec=None) == []
    assert [t.key for t in tracks([_result({"segments": [[1.0, 2.0]]})], duration_sec=None)] == ["segments"]


def test_thumbnail_moments_are_distinct_and_spread_when_there_are_too_many():
    many = tracks([_result({"cuts": [i / 10 for i in range(100)]})], duration_sec=10.0)
    picked = moments(many, 12)
    assert len(picked) == 12 and picked[0] == 0.0 and picked[-1] == 9.9 and picked == sorted(set(picked))
    assert moments(tracks([_result({"a": [1.0, 1.0], "b": [[1.0, 3.0]]})], duration_sec=5.0), 12) == [1.0]
