"""What plugin authors import is exactly what we mean to export, and every hook is documented and tested."""

import inspect
from pathlib import Path

import pique_engine
from pique_engine import hookspecs


def test_public_api_is_exactly_this():
    assert sorted(pique_engine.__all__) == [
        "AudioStream", "Checks", "ContentMismatch", "ContentType", "Detector", "DetectorError", "DetectorResult",
        "ImageInfo", "JudgeError", "Media", "MediaError", "MediaInfo", "MediaLimitError", "NoParams", "PiqueError",
        "PluginError", "ProbeError", "SignatureError", "VideoStream", "WebhookError", "hookimpl",
    ]
    for name in pique_engine.__all__:
        assert getattr(pique_engine, name) is not None


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
