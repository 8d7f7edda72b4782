"""`pique-engine bench`: what each detector costs, per file type, evaluated in-process.

Every file is evaluated through the same `Evaluator` the CLI and the worker use, without the
sandbox, in three kinds of pass:

1. one untimed pass through counting file objects: bytes each phase reads (the probe, then each
   detector), and which files can be evaluated at all;
2. `repeat` timed passes on plain files: latency of the probe and of each detector;
3. one pass under `tracemalloc`: the peak of Python and numpy allocations during each phase.
   Memory that FFmpeg or libsndfile allocate in C is not seen there; the process's peak RSS is
   reported separately for the whole run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from ..errors import PiqueError

DEFAULT_MEDIA = Path(__file__).resolve().parents[2] / "fixtures" / "media"
PROBE = "probe"
TOTAL = "evaluation"
MEMORY_NOTE = "peak of Python and numpy allocations (tracemalloc) during the phase; C allocations inside FFmpeg/libsndfile are not included"


class CountingFile(io.RawIOBase):
    """A read-only file object that counts the bytes read through it into `sink[phase()]`."""

    def __init__(self, inner: IO[bytes], sink: dict[str, int], phase: Callable[[], str]) -> None:
        super().__init__()
        self._inner, self._sink, self._phase = inner, sink, phase

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._sink[self._phase()] += len(data)
        return data

    def readinto(self, buffer) -> int:
        n = self._inner.readinto(buffer) or 0
        self._sink[self._phase()] += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        self._inner.close()
        super().close()


@dataclasses.dataclass
class _Phases:
    """Which phase of an evaluation is running, for bytes and memory attribution."""

    current: str | None = None
    bytes: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    memory: dict[str, int] = dataclasses.field(default_factory=dict)
    trace: bool = False
    _base: int = 0

    def enter(self, phase: str) -> None:
        self.leave()
        self.current = phase
        if self.trace:
            tracemalloc.reset_peak()
            self._base = tracemalloc.get_traced_memory()[0]

    def leave(self) -> None:
        if self.trace and self.current is not None:
            peak = tracemalloc.get_traced_memory()[1] - self._base
            self.memory[self.current] = max(self.memory.get(self.current, 0), peak)
        self.current = None

    def reading(self) -> str:
        return self.current or "other"


def default_judge(plugins, names: set[str] | None = None):
    """A judge with one criterion per installed detector (default params), or per named one."""
    from pydantic import ValidationError

    from ..judge import bind_judge, parse_judge

    criteria = []
    for entry in plugins.detectors:
        det = entry.detector
        if names is not None and det.name not in names:
            continue
        try:
            det.params.model_validate({})
        except ValidationError:
            continue  # needs params of its own: only a judge file can say which
        criteria.append({"criterion_id": det.name, "detector": det.name, "params": {}})
    if not criteria:
        raise PiqueError("no installed detector can run with default params; give --judge")
    return bind_judge(parse_judge({"judge_id": "bench_all_detectors", "name": "Every installed detector", "criteria": criteria}), plugins.detectors)


def select_detectors(judge, names: set[str]):
    """`judge` keeping only the criteria whose detector is in `names`."""
    kept = tuple(c for c in judge.criteria if c.detector.name in names)
    if not kept:
        raise PiqueError(f"judge {judge.judge_id!r} has no criterion using {', '.join(sorted(names))}")
    return dataclasses.replace(judge, criteria=kept)


def _traced(judge, phases: _Phases):
    """`judge` with each detector wrapped so its phase is known while it runs."""

    def wrap(bound):
        det = bound.detector

        def evaluate(media, params, _det=det):
            phases.enter(_det.name)
            try:
                return _det.evaluate(media, params)
            finally:
                phases.leave()

        return dataclasses.replace(bound, detector=dataclasses.replace(det, evaluate=evaluate))

    return dataclasses.replace(judge, criteria=tuple(wrap(c) for c in judge.criteria))


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files named, and the files under folders named, in a stable order."""
    out: list[Path] = []
    for p in paths:
        out.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    return out


def run_bench(files: list[Path], judge, plugins, *, repeat: int = 5, limits=None, only_good: bool = False,
              progress: Callable[[int], None] | None = None, on_evaluation: Callable[[Path, Any], None] | None = None) -> dict[str, Any]:
    """Benchmark `judge` on `files`; returns the JSON-ready result (see `pique-engine bench --json`).

    `progress(n)` is told each time n more of the `len(files) * (repeat + 2)` passes are done;
    `on_evaluation(path, evaluation)` receives each file's first (untimed) evaluation.
    """
    from ..errors import MediaError
    from ..evaluation import Evaluator, MediaSource
    from ..media.probe import probe

    evaluator = Evaluator(plugins, limits)
    step = progress or (lambda n: None)
    record = on_evaluation or (lambda path, ev: None)
    records: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    kinds = {t for c in judge.criteria for t in c.detector.content_types}
    for path in files:
        reason = None
        try:
            kind = probe(path, evaluator.limits).kind
            if kind not in kinds:
                reason = f"no selected detector handles {kind}"
        except MediaError as exc:
            reason = str(exc) if only_good else None
        if reason:
            skipped.append({"path": str(path), "reason": reason})
            step(repeat + 2)
            continue
        phases = _Phases()
        ev = evaluator.evaluate(_counting_source(path, phases), _traced(judge, phases), job_id="bench")
        phases.leave()
        step(1)
        record(path, ev)
        rec = {"path": str(path), "type": ev.info.container if ev.info else "unreadable",
               "size_bytes": path.stat().st_size, "status": ev.payload.status,
               "error": getattr(ev.payload, "error", None), "ms": defaultdict(list),
               "bytes_read": dict(phases.bytes), "peak_mem_bytes": {}}
        names = {c.criterion.criterion_id: c.detector.name for c in judge.criteria}
        for _ in range(repeat):
            t0 = time.perf_counter()
            ev = evaluator.evaluate(MediaSource.from_path(path), judge, job_id="bench")
            rec["ms"][TOTAL].append((time.perf_counter() - t0) * 1000)
            rec["ms"][PROBE].append(ev.probe_ms)
            for criterion, ms in ev.detector_ms.items():
                rec["ms"][names[criterion]].append(ms)
            step(1)
        rec["peak_mem_bytes"] = _memory_pass(evaluator, path, judge)
        step(1)
        records.append(rec)
    return {
        "machine": _machine(),
        "judge": {"judge_id": judge.judge_id, "detectors": sorted({c.detector.name for c in judge.criteria})},
        "repeat": repeat,
        "memory": MEMORY_NOTE,
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "files": [_file_summary(r) for r in records],
        "skipped": skipped,
        "summary": _summary(records),
    }


def _counting_source(path: Path, phases: _Phases):
    from ..evaluation import MediaSource

    plain = MediaSource.from_path(path)

    def open_header() -> IO[bytes]:
        phases.enter(PROBE)
        return CountingFile(plain.open_header(), phases.bytes, phases.reading)

    def open_content() -> IO[bytes]:
        return CountingFile(plain.open_content(), phases.bytes, phases.reading)

    return MediaSource(name=plain.name, open_header=open_header, open_content=open_content)


def _memory_pass(evaluator, path: Path, judge) -> dict[str, int]:
    from ..evaluation import MediaSource

    phases = _Phases(trace=True)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        phases.enter(PROBE)
        evaluator.evaluate(MediaSource.from_path(path), _traced(judge, phases), job_id="bench")
        phases.leave()
    finally:
        if started:
            tracemalloc.stop()
    return dict(phases.memory)


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else ordered[0]
    return {"median_ms": statistics.median(ordered), "p95_ms": p95,
            "files_per_s": len(ordered) / (sum(ordered) / 1000) if sum(ordered) > 0 else float("inf")}


def _file_summary(r: dict[str, Any]) -> dict[str, Any]:
    phases = {
        phase: {**_stats(ms), "bytes_read": r["bytes_read"].get(phase, 0), "peak_mem_bytes": r["peak_mem_bytes"].get(phase)}
        for phase, ms in r["ms"].items()
    }
    phases[TOTAL]["bytes_read"] = sum(r["bytes_read"].values())
    phases[TOTAL]["peak_mem_bytes"] = max(r["peak_mem_bytes"].values(), default=None)
    return {k: r[k] for k in ("path", "type", "size_bytes", "status", "error")} | {"phases": phases}


def _summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        for phase in r["ms"]:
            groups[(r["type"], phase)].append(r)
            groups[("all", phase)].append(r)
    order = {PROBE: 0, TOTAL: 2}
    rows = []
    for (ftype, phase), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] == "all", kv[0][0], order.get(kv[0][1], 1), kv[0][1])):
        ms = [m for r in rs for m in r["ms"][phase]]
        read = [sum(r["bytes_read"].values()) if phase == TOTAL else r["bytes_read"].get(phase, 0) for r in rs]
        mem = [max(r["peak_mem_bytes"].values(), default=None) if phase == TOTAL else r["peak_mem_bytes"].get(phase) for r in rs]
        mem = [m for m in mem if m is not None]
        rows.append({"type": ftype, "phase": phase, "files": len(rs), "samples": len(ms), **_stats(ms),
                     "bytes_read_median": int(statistics.median(read)), "bytes_read_max": max(read),
                     "peak_mem_bytes": max(mem) if mem else None})
    return rows


def _machine() -> dict[str, Any]:
    import os

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


COLUMNS = ["type", "phase", "files", "median ms", "p95 ms", "files/s", "bytes read", "peak mem (tracemalloc)"]


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """The summary's rows as text cells, in `COLUMNS` order."""
    return [
        [r["type"], r["phase"], str(r["files"]), f"{r['median_ms']:.3f}", f"{r['p95_ms']:.3f}",
         f"{r['files_per_s']:,.0f}", _size(r["bytes_read_median"]), _size(r["peak_mem_bytes"])]
        for r in result["summary"]
    ]


def table_notes(result: dict[str, Any]) -> list[str]:
    """What the table's numbers are, and what the run skipped."""
    notes = [f"bytes read: median per file, counted through a file object wrapped around the input. "
             f"peak mem: {MEMORY_NOTE}.",
             f"process peak RSS: {_size(result['process_peak_rss_bytes'])}; {result['repeat']} timed runs per file; "
             f"judge {result['judge']['judge_id']} ({', '.join(result['judge']['detectors'])})."]
    if result["skipped"]:
        notes.append(f"skipped {len(result['skipped'])} files: " + "; ".join(f"{Path(s['path']).name} ({s['reason']})" for s in result["skipped"]))
    return notes


def format_table(result: dict[str, Any]) -> str:
    """The summary as an aligned text table."""
    lines = [COLUMNS, *table_rows(result)]
    widths = [max(len(row[i]) for row in lines) for i in range(len(COLUMNS))]
    text = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in lines]
    return "\n".join([*text, "", *table_notes(result)])


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@click.command("bench")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--judge", "judge_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Judge JSON file; default: one criterion per installed detector, default params.")
@click.option("--detectors", "detector_names", help="Comma list: only these detectors' criteria.")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True, help="Timed evaluations per file.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw results as JSON.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report: each file's results, timeline and thumbnails, and the table.")
@click.pass_obj
def bench(settings, paths: tuple[Path, ...], judge_path: Path | None, detector_names: str | None, repeat: int, as_json: bool,
          report_path: Path | None) -> None:
    """Time the probe and each detector on PATHS (files or folders; default: the repo's fixture media).

    Prints, per file type and phase: median and p95 latency, files/s, bytes read, and peak
    memory as tracemalloc sees it (Python and numpy allocations). Shows a progress bar on
    stderr when it is a terminal.
    """
    import json

    from ..media.probe import ProbeLimits

    judge, plugins = _bench_judge(settings, judge_path, detector_names)
    if not paths and not DEFAULT_MEDIA.is_dir():
        raise click.UsageError(f"no PATHS given and no fixture media at {DEFAULT_MEDIA}; name the files to benchmark")
    files = expand(paths or [DEFAULT_MEDIA])
    limits = ProbeLimits(settings.max_image_pixels, settings.max_video_pixels, settings.max_duration_sec)
    evaluations: list[tuple[Path, Any]] = []
    with progress_bar(len(files) * (repeat + 2), sys.stderr) as step:
        result = run_bench(files, judge, plugins, repeat=repeat, limits=limits, only_good=not paths, progress=step,
                           on_evaluation=(lambda p, ev: evaluations.append((p, ev))) if report_path else None)
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))
    if report_path:
        from .report import ReportWriter, Table, in_process

        report = ReportWriter(report_path, in_process(limits))  # thumbnails after the timed passes, in-process like them
        for path, evaluation in evaluations:
            report.add(path, evaluation)
        table = Table(title="Benchmark", columns=COLUMNS, rows=table_rows(result), note=" ".join(table_notes(result)))
        report.write(f"Benchmark of {result['judge']['judge_id']}", tables=[table])


def _bench_judge(settings, judge_path: Path | None, detector_names: str | None):
    from ..judge import load_judge_file
    from ..plugins import load_plugins

    names = {n.strip() for n in detector_names.split(",") if n.strip()} if detector_names else None
    try:
        plugins = load_plugins(settings.plugin_selection(), strict=settings.strict_plugins)
        if names and (unknown := names - set(plugins.detectors.names())):
            raise PiqueError(f"detector {', '.join(sorted(unknown))} is not installed (installed: {', '.join(plugins.detectors.names())})")
        judge = load_judge_file(judge_path, plugins.detectors) if judge_path else default_judge(plugins, names)
        if judge_path and names:
            judge = select_detectors(judge, names)
    except PiqueError as exc:
        raise click.UsageError(str(exc)) from None
    return judge, plugins


@contextlib.contextmanager
def progress_bar(length: int, file: IO[str]) -> Iterator[Callable[[int], None]]:
    """A progress bar on `file` when it is a terminal; silent otherwise (piped, redirected, CI logs)."""
    if not file.isatty():
        yield lambda n: None
        return
    with click.progressbar(length=length, label="benchmarking", file=file) as bar:
        yield bar.update
