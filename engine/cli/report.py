"""`--report`: one self-contained HTML page of evaluations, for a person tuning a judge.

Per file: the overall score, each criterion's verdict, rationale and metrics, a timeline of
every time range or moment a detector reported (found by shape, see `timeline`), and
thumbnails of the frames at those moments. Everything is inline (thumbnails as data: URIs,
no external CSS, script or font), so the page opens from disk with no server and no network;
a Content-Security-Policy forbids any fetch besides. Every string from a file or a detector
is escaped: file names, rationales and metrics are the uploader's and the plugins' to choose.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import click

from ..errors import PiqueError
from ..evaluation import Evaluation
from ..payloads import CompletedPayload, iso_z, utc_now
from .report_style import CSS, SCRIPT
from .thumbnails import MAX_THUMBNAILS, Thumbnail, thumbnails
from .timeline import Track, moments, tracks

_MAX_SPANS_SHOWN = 400
_MAX_VALUE_CHARS = 300


@dataclass
class FileReport:
    """What the report shows for one file."""

    path: str
    evaluation: Evaluation
    tracks: list[Track] = field(default_factory=list)
    thumbnails: list[Thumbnail] = field(default_factory=list)
    note: str | None = None  # why there are no thumbnails, when they could not be made

    @property
    def duration_sec(self) -> float | None:
        info = self.evaluation.info
        known = info.duration_sec if info else None
        ends = [s.end if s.end is not None else s.start for t in self.tracks for s in t.spans]
        return known or (max(ends) if ends else None)


@dataclass(frozen=True)
class Table:
    """An extra section of plain rows, e.g. `bench`'s timings."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


ThumbnailMaker = Callable[[str, list[float]], list[Thumbnail]]


def in_process(limits) -> ThumbnailMaker:
    """Make thumbnails in this process (for files you trust, or inside a sandbox already)."""
    return lambda path, times: thumbnails(path, times, limits=limits)


def isolated(limits, sandbox) -> ThumbnailMaker:
    """Make thumbnails in a sandbox child, within the evaluation's time and memory limits."""
    from ..worker.sandbox import run_isolated

    return lambda path, times: run_isolated(_thumbnails_child, path, times, limits, limits=sandbox, what="the report's thumbnails")


def _thumbnails_child(path: str, times: list[float], probe_limits, *, progress) -> list[Thumbnail]:
    return thumbnails(path, times, limits=probe_limits, progress=progress)


def file_report(path: Path, evaluation: Evaluation, make_thumbnails: ThumbnailMaker) -> FileReport:
    """The report entry for one evaluated file: its tracks, and thumbnails at their moments."""
    report = FileReport(path=str(path), evaluation=evaluation)
    payload, info = evaluation.payload, evaluation.info
    if not isinstance(payload, CompletedPayload) or info is None:
        return report
    if info.kind != "image":
        report.tracks = tracks(payload.results, info.duration_sec)
    if info.image is None and info.video is None:
        return report  # audio: nothing to picture
    try:
        report.thumbnails = make_thumbnails(str(path), moments(report.tracks, MAX_THUMBNAILS))
    except PiqueError as exc:
        report.note = f"no thumbnails: {exc}"
    return report


class ReportWriter:
    """Collects files as their evaluations finish, then writes the page (for `--report`)."""

    def __init__(self, out: Path, make_thumbnails: ThumbnailMaker) -> None:
        self.out, self.make_thumbnails = out, make_thumbnails
        self.files: list[FileReport] = []

    def add(self, path: Path, evaluation: Evaluation) -> None:
        self.files.append(file_report(path, evaluation, self.make_thumbnails))

    def write(self, title: str, *, tables: list[Table] | None = None) -> None:
        """Write the page, and say where on stderr (stdout carries the payloads)."""
        try:
            self.out.write_text(render(self.files, title=title, tables=tables), encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write the report to {str(self.out)!r}: {exc.strerror}") from None
        click.echo(f"report written to {self.out}", err=True)


def render(files: list[FileReport], *, title: str, tables: list[Table] | None = None) -> str:
    """The whole page as one string."""
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'"
    completed = sum(isinstance(f.evaluation.payload, CompletedPayload) for f in files)
    head = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{len(files)} file(s), {completed} evaluated, "
        f"{len(files) - completed} failed · generated {iso_z(utc_now())}</p></header>"
    )
    body = "".join(_file_section(i, f) for i, f in enumerate(files))
    extra = "".join(_table_section(t) for t in tables or [])
    return f"{head}<main>{body}{extra}</main><script>{SCRIPT}</script></body></html>\n"


def _file_section(index: int, f: FileReport) -> str:
    payload, info = f.evaluation.payload, f.evaluation.info
    name = escape(Path(f.path).name)
    if not isinstance(payload, CompletedPayload):
        return (f'<section class="file failed" id="file-{index}"><h2>{name} <span class="badge fail">failed</span></h2>'
                f'<p class="path">{escape(f.path)}</p><p class="error">{escape(payload.error)}</p></section>')
    verdict = all(r.pass_check for r in payload.results)
    about = escape(info.describe()) if info else ""
    parts = [
        f'<section class="file" id="file-{index}"><h2>{name} <span class="badge {"pass" if verdict else "fail"}">'
        f'{"pass" if verdict else "fail"}</span> <span class="score">overall score {payload.overall_score:.3f}</span></h2>',
        f'<p class="path">{escape(f.path)} · {about} · judge {escape(payload.judge_id)}</p>',
        _criteria(payload),
        _timeline(f),
        _thumbnail_strip(f),
        "</section>",
    ]
    return "".join(parts)


def _criteria(payload: CompletedPayload) -> str:
    rows = []
    for r in payload.results:
        cls = "pass" if r.pass_check else "fail"
        rows.append(
            f'<tr class="criterion"><td>{escape(r.criterion_id)}</td><td>{escape(r.detector_name)}</td>'
            f'<td><span class="badge {cls}">{cls}</span></td><td class="num">{r.score:.3f}</td>'
            f'<td>{escape(r.rationale)}</td></tr>'
            f'<tr class="metrics"><td></td><td colspan="4">{_metrics(r.metrics, r.detector_name)}</td></tr>'
        )
    return ('<table class="criteria"><thead><tr><th>criterion</th><th>detector</th><th>verdict</th>'
            f'<th>score</th><th>rationale</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _metrics(metrics: dict[str, Any], detector: str) -> str:
    if set(metrics) == {detector} and isinstance(metrics[detector], dict):
        metrics = metrics[detector]  # keyed by the detector's name, as every detector does
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(_value(v))}</td></tr>" for k, v in _flat(metrics, ""))
    return f'<details open><summary>metrics</summary><table class="kv">{rows}</table></details>' if rows else ""


def _flat(value: Any, path: str, depth: int = 0) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value and depth < 4:
        out = []
        for k, v in value.items():
            out.extend(_flat(v, f"{path}.{k}" if path else str(k), depth + 1))
        return out
    return [(path, value)] if path else []


def _value(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def _timeline(f: FileReport) -> str:
    if not f.tracks:
        return '<p class="muted">No detector reported a time range or moment.</p>'
    duration = f.duration_sec or 1.0
    rows = []
    for track in f.tracks:
        marks = []
        for s in track.spans[:_MAX_SPANS_SHOWN]:
            left = _pct(s.start, duration)
            when = f"{s.start:.2f} s" if s.end is None else f"{s.start:.2f}–{s.end:.2f} s"
            tip = escape(f"{when}{' · ' + s.note if s.note else ''}")
            if s.end is None:
                marks.append(f'<div class="moment" style="left:{left:.3f}%" title="{tip}"></div>')
            else:
                width = max(_pct(s.end, duration) - left, 0.4)
                marks.append(f'<div class="range" style="left:{left:.3f}%;width:{width:.3f}%" title="{tip}"></div>')
        more = len(track.spans) - _MAX_SPANS_SHOWN
        extra = f' <span class="muted">({more} more not drawn)</span>' if more > 0 else ""
        listed = ", ".join(
            (f"{s.start:.2f}" if s.end is None else f"{s.start:.2f}–{s.end:.2f}") for s in track.spans[:24]
        ) + (" …" if len(track.spans) > 24 else "")
        rows.append(
            f'<div class="track" data-detector="{escape(track.detector)}" data-key="{escape(track.key)}" data-spans="{len(track.spans)}">'
            f'<div class="label">{escape(track.label)}{extra}<br><small>{escape(listed)} s</small></div>'
            f'<div class="bar">{"".join(marks)}</div></div>'
        )
    axis = "".join(f'<span style="left:{p}%">{duration * p / 100:.1f} s</span>' for p in (0, 25, 50, 75, 100))
    return f'<div class="timeline"><h3>Timeline</h3>{"".join(rows)}<div class="axis">{axis}</div></div>'


def _pct(t: float, duration: float) -> float:
    return min(max(t / duration * 100, 0.0), 100.0)


def _thumbnail_strip(f: FileReport) -> str:
    if f.note:
        return f'<p class="muted">{escape(f.note)}</p>'
    if not f.thumbnails:
        return ""
    cells = []
    for th in f.thumbnails:
        data = base64.b64encode(th.jpeg).decode()
        caption = "the image" if th.t is None else f"{th.t:.2f} s" + ("" if f.tracks else " (middle frame)")
        hits = [t.label for t in f.tracks if th.t is not None and any(abs(s.start - th.t) < 0.006 for s in t.spans)]
        cells.append(
            f'<figure><img src="data:image/jpeg;base64,{data}" width="{th.width}" height="{th.height}" alt="{escape(caption)}">'
            f'<figcaption>{escape(caption)}{"<br>" + escape(", ".join(hits)) if hits else ""}</figcaption></figure>'
        )
    return f'<div class="thumbs">{"".join(cells)}</div>'


def _table_section(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="muted">{escape(table.note)}</p>' if table.note else ""
    return f'<section class="extra"><h2>{escape(table.title)}</h2><table class="kv"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{note}</section>'
