"""`pip install .` gives a namespaced package: only `pique_engine` lands in site-packages."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # builds the wheel with pip in a subprocess

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_only_the_pique_engine_namespace(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("pique_engine-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"pique_engine"}
    assert "pique_engine/detectors/video_specs.py" in names
    assert "pique_engine/cli/main.py" in names
    assert "pique_engine/store/migrations/versions/0001_initial.py" in names
    assert "pique_engine/store/migrations/script.py.mako" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "pique-engine = pique_engine.cli.main:main" in text
