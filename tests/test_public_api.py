"""What plugin authors import is exactly what we mean to export, and every hook is documented and tested."""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pique_engine
from pique_engine import hookspecs


def test_public_api_is_exactly_this():
    assert sorted(pique_engine.__all__) == [
        "AspectRatio", "AudioBlock", "AudioBlocks", "AudioFilter", "AudioStream", "Checks", "ContentMismatch",
        "ContentType", "Detector", "DetectorError", "DetectorResult", "FilterEvent", "Frame", "ImageInfo",
        "ImagePixels", "JudgeError", "Media", "MediaError", "MediaInfo", "MediaLimitError", "NoParams",
        "PiqueError", "PluginError", "ProbeError", "SignatureError", "VideoFilter", "VideoFrames", "VideoStream",
        "WebhookError",
        "aspect_ratio_label", "audio_blocks", "check_ranges", "hookimpl", "parse_ratio", "ratio_matches",
        "run_detector", "synth",
    ]
    for name in pique_engine.__all__:
        assert getattr(pique_engine, name) is not None
    assert set(dir(pique_engine)) >= set(pique_engine.__all__)


def test_the_lazy_exports_are_the_helpers_the_docs_name():
    from pique_engine import synth
    from pique_engine.media.decode import audio_blocks
    from pique_engine.testing import run_detector

    assert (pique_engine.audio_blocks, pique_engine.run_detector, pique_engine.synth) == (audio_blocks, run_detector, synth)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        pique_engine.nothing_here  # noqa: B018


def test_importing_the_package_loads_no_numpy_pyav_or_pytest():
    code = "import sys, pique_engine; print(sorted(m for m in ('numpy', 'av', 'pytest', 'soundfile') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_the_plugin_docs_import_only_public_names():
    docs = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    imported = re.findall(r"from pique_engine import ([\w, ]+)", docs)
    assert imported, "docs/plugins.md shows no import"
    for line in imported:
        for name in (n.strip() for n in line.split(",")):
            assert name in pique_engine.__all__, name
    assert not re.search(r"from pique_engine\.\w", docs), "docs/plugins.md imports from a private-looking path"


def hook_names():
    return [name for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "pique_engine_spec")]


def test_every_hook_has_a_docstring_and_full_type_hints():
    assert hook_names() == ["register_detectors", "overall_score"]
    for name in hook_names():
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and "Called" in fn.__doc__, name
        assert "return" in inspect.get_annotations(fn), name


def test_every_hook_is_documented_and_exercised_by_a_test():
    docs = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py") if p.name != Path(__file__).name)
    for name in hook_names():
        assert f"`{name}" in docs, f"hook {name} missing from docs/plugins.md"
        assert f"def {name}(" in tests, f"no test implements hook {name}"
