"""What every benchmark script shares: machine facts, result files, tables, percentiles."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MEDIA = ROOT / "fixtures" / "media"


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare numbers: CPU, memory, library versions, date."""
    import av
    import PIL
    import soundfile

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_bytes": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyav": av.__version__,
        "ffmpeg_in_pyav": av.ffmpeg_version_info,
        "pillow": PIL.__version__,
        "soundfile": soundfile.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_results(name: str, payload: dict[str, Any], rows: list[dict[str, Any]] | None = None) -> list[Path]:
    """Write `payload` as results/<name>.json and `rows` as results/<name>.csv."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = [RESULTS / f"{name}.json"]
    out[0].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if rows:
        path = RESULTS / f"{name}.csv"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        out.append(path)
    return out


def table(rows: list[dict[str, Any]], columns: list[str], headers: list[str] | None = None) -> str:
    """An aligned text table; text columns left, numbers right."""
    headers = headers or columns
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in columns]
    lines = ["  ".join(h.rjust(w) if n else h.ljust(w) for h, w, n in zip(headers, widths, numeric))]
    for row in cells:
        lines.append("  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric)))
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], columns: list[str], headers: list[str] | None = None) -> str:
    headers = headers or columns
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(_cell(r.get(c)) for c in columns) + " |")
    return "\n".join(out)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def ensure_tools(*tools: str, packages: Sequence[str] = ("ffmpeg", "mediainfo")) -> dict[str, str | None]:
    """Paths of `tools`, installing Debian's `packages` with apt-get first if any is missing."""
    found = {t: shutil.which(t) for t in tools}
    if None in found.values() and shutil.which("apt-get"):
        print(f"installing {', '.join(packages)} with apt-get (missing: {', '.join(t for t, p in found.items() if not p)}) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], stdout=subprocess.DEVNULL, check=False)
        found = {t: shutil.which(t) for t in tools}
    return found


def tool_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return next((line.strip() for line in out.splitlines() if any(c.isdigit() for c in line)), None)


def plot_available() -> bool:
    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed (pip install matplotlib): no plot written")
        return False
    return True
