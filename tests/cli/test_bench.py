"""`pique-engine bench`: every file type and phase, bytes read, and the JSON shape."""

from __future__ import annotations

import io
import json
import math

import click
import pytest
from click.testing import CliRunner

from pique_engine.cli.bench import CountingFile, bench, default_judge, progress_bar, run_bench
from pique_engine.plugins import load_plugins
from pique_engine.settings import Settings

from ..conftest import FIXTURES

MEDIA = FIXTURES / "media"
SAMPLE = ["contract_576x1024_30fps.mp4", "portrait_1080x1350.jpg", "tone_44100_mono.wav"]


@pytest.fixture(scope="module")
def builtins():
    return load_plugins([])


@pytest.fixture(scope="module")
def result(builtins):
    return run_bench([MEDIA / n for n in SAMPLE], default_judge(builtins), builtins, repeat=3)


def row(result, ftype, phase):
    (r,) = [r for r in result["summary"] if (r["type"], r["phase"]) == (ftype, phase)]
    return r


def test_bench_reports_every_file_type_and_phase_with_sane_numbers(result):
    phases = {("mp4", "probe"), ("mp4", "video_specs"), ("jpeg", "image_dimensions"), ("wav", "audio_sample_rate"), ("all", "evaluation")}
    assert phases <= {(r["type"], r["phase"]) for r in result["summary"]}
    for r in result["summary"]:
        assert 0 < r["median_ms"] <= r["p95_ms"] < 5_000, r
        assert math.isfinite(r["files_per_s"]) and r["files_per_s"] > 0
        assert r["peak_mem_bytes"] is None or r["peak_mem_bytes"] >= 0
    assert row(result, "mp4", "probe")["samples"] == 3
    assert row(result, "all", "evaluation")["files"] == 3


def test_bench_counts_the_bytes_each_phase_reads(result):
    contract = (MEDIA / "contract_576x1024_30fps.mp4").stat().st_size
    assert 1_000 < row(result, "mp4", "probe")["bytes_read_median"] < contract / 5  # the moov, not the frames
    assert row(result, "mp4", "video_specs")["bytes_read_max"] == 0  # header-only detectors read nothing
    assert row(result, "wav", "probe")["bytes_read_median"] < 1_000
    assert row(result, "jpeg", "probe")["bytes_read_median"] < 2_000


def test_bench_result_is_json_with_the_documented_shape(result):
    data = json.loads(json.dumps(result))
    assert set(data) == {"machine", "judge", "repeat", "memory", "process_peak_rss_bytes", "files", "skipped", "summary"}
    assert data["judge"]["detectors"] == ["audio_sample_rate", "image_dimensions", "video_specs"]
    f = next(f for f in data["files"] if f["type"] == "mp4")
    assert f["status"] == "completed"
    assert set(f["phases"]) == {"probe", "video_specs", "evaluation"}
    assert set(f["phases"]["probe"]) == {"median_ms", "p95_ms", "files_per_s", "bytes_read", "peak_mem_bytes"}
    assert data["process_peak_rss_bytes"] > 10 << 20


def test_counting_file_counts_read_and_readinto():
    sink = {"probe": 0}
    f = CountingFile(io.BytesIO(b"x" * 100), sink, lambda: "probe")
    f.read(10)
    f.readinto(bytearray(30))
    f.seek(95)
    f.read()
    assert sink["probe"] == 45


def _cli(*args: str):
    @click.group()
    @click.pass_context
    def cli(ctx):
        ctx.obj = Settings(load_plugins="")

    cli.add_command(bench)
    return CliRunner().invoke(cli, ["bench", *args])


def test_bench_command_prints_a_table_per_type_and_phase():
    r = _cli(str(MEDIA / "square_512.png"), str(MEDIA / "tone_44100_mono.wav"), "--repeat", "2")
    assert r.exit_code == 0, r.output
    assert "median ms" in r.output and "p95 ms" in r.output and "files/s" in r.output
    assert any(line.startswith("png") and "image_dimensions" in line for line in r.output.splitlines())


def test_bench_command_json_with_selected_detectors_skips_what_they_cannot_judge():
    r = _cli(str(MEDIA / "square_512.png"), str(MEDIA / "phone_rotated_90.mp4"), "--detectors", "video_specs", "--repeat", "1", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output[r.output.index("{"):])
    assert [f["type"] for f in data["files"]] == ["mp4"]
    assert data["skipped"][0]["reason"] == "no selected detector handles image"


def test_bench_command_defaults_to_the_good_fixture_media():
    r = _cli("--repeat", "1", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output[r.output.index("{"):])
    names = {f["path"].rsplit("/", 1)[-1] for f in data["files"]}
    assert {"contract_576x1024_30fps.mp4", "still_300x200.webp", "tone_48000_stereo.flac"} <= names
    assert all(f["status"] == "completed" for f in data["files"])
    assert {s["path"].rsplit("/", 1)[-1] for s in data["skipped"]} >= {"empty.mp4", "bomb_40000x40000.png"}


def test_bench_command_rejects_an_unknown_detector():
    r = _cli(str(MEDIA / "square_512.png"), "--detectors", "no_such")
    assert r.exit_code == 2
    assert "no_such" in r.output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_and_stays_silent_when_piped():
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        with progress_bar(4, stream) as step:
            step(1)
            step(3)
    assert "benchmarking" in terminal.getvalue() and "100%" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_bench_command_prints_no_progress_when_stderr_is_piped():
    r = _cli(str(MEDIA / "square_512.png"), "--repeat", "1")
    assert r.exit_code == 0, r.output
    assert r.stderr == ""


def test_bench_table_names_how_memory_and_bytes_are_measured():
    r = _cli(str(MEDIA / "square_512.png"), "--repeat", "1")
    header = r.stdout.splitlines()[0].split()
    assert header[-5:] == ["bytes", "read", "peak", "mem", "(tracemalloc)"]
    assert "counted through a file object wrapped around the input" in r.stdout
    assert "tracemalloc" in r.stdout and "C allocations inside FFmpeg/libsndfile are not included" in r.stdout


def test_bench_report_shows_each_file_and_the_table(tmp_path):
    out = tmp_path / "bench.html"
    r = _cli(str(MEDIA / "square_512.png"), str(MEDIA / "contract_576x1024_30fps.mp4"), "--repeat", "1", "--report", str(out))
    assert r.exit_code == 0, r.output
    assert f"report written to {out}" in r.stderr
    page = out.read_text()
    assert page.count('<section class="file"') == 2
    assert page.count('src="data:image/jpeg;base64,') == 2  # the image, and the video's middle frame
    assert "<h2>Benchmark</h2>" in page and "<th>peak mem (tracemalloc)</th>" in page
    assert "<td>png</td><td>image_dimensions</td>" in page
