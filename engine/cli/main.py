"""The `pique-engine` command: parses arguments and calls the engine, nothing more."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click

from ..errors import PiqueError


def _settings():
    from ..settings import Settings

    return Settings()


def _plugins(settings):
    from ..plugins import load_plugins

    try:
        return load_plugins(settings.plugin_selection(), strict=settings.strict_plugins)
    except PiqueError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="WARNING", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
@click.version_option(package_name="pique-engine")
@click.pass_context
def cli(ctx: click.Context, log_level: str) -> None:
    """Evaluate video, image and audio against judges; report by signed webhook."""
    from ..logs import configure_logging

    settings = _settings()
    configure_logging(log_level, settings.log_format)
    ctx.obj = settings


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--judge", "judge_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Judge JSON file.")
@click.option("--content-type", type=click.Choice(["video", "image", "audio"]), help="Declared type; defaults to what each file is.")
@click.option("--job-id", help="Job id for the payload (one file only); generated otherwise.")
@click.option("--isolate/--no-isolate", default=True, show_default=True,
              help="Evaluate each file in a child process with the time and memory limits (PIQUE_EVALUATION_*).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report here: verdicts, metrics, timeline, thumbnails.")
@click.pass_obj
def evaluate(settings, files: tuple[Path, ...], judge_path: Path, content_type: str | None, job_id: str | None, isolate: bool,
             report_path: Path | None) -> None:
    """Evaluate FILES against a judge; print one payload per file as a JSON line.

    Exits 0 when every evaluation completed, 1 when any failed, 2 on usage errors.
    """
    from ..evaluation import Evaluation, Evaluator, MediaSource, new_id
    from ..judge import load_judge_file
    from ..payloads import FailedPayload
    from ..media.probe import ProbeLimits
    from ..worker.sandbox import Limits, run_isolated
    from ..worker.child import evaluate_file

    if job_id and len(files) > 1:
        raise click.UsageError("--job-id names one evaluation; give a single file or leave it out")
    plugins = _plugins(settings)
    try:
        judge = load_judge_file(judge_path, plugins.detectors)
    except PiqueError as exc:
        raise click.UsageError(str(exc)) from None
    limits = ProbeLimits(settings.max_image_pixels, settings.max_video_pixels, settings.max_duration_sec)
    sandbox = Limits(timeout_sec=settings.evaluation_timeout_sec, memory_bytes=settings.evaluation_memory_mb << 20)
    evaluator = Evaluator(plugins, limits, detector_timeout_sec=settings.detector_timeout_sec,
                          evaluation_timeout_sec=settings.evaluation_timeout_sec)
    report = _report_writer(report_path, limits, sandbox if isolate else None)
    any_failed = False
    for path in files:
        this_job = job_id or new_id("job")
        if not isolate:
            evaluation = evaluator.evaluate(MediaSource.from_path(path), judge, job_id=this_job, content_type=content_type)
        else:
            try:
                evaluation = run_isolated(
                    evaluate_file, str(path), judge.judge.model_dump(), job_id=this_job, content_type=content_type,
                    plugin_selection=settings.plugin_selection(), probe_limits=limits, limits=sandbox, what="the evaluation",
                )
            except PiqueError as exc:
                failed = FailedPayload(job_id=this_job, error=str(exc), judge_id=judge.judge_id)
                evaluation = Evaluation(payload=failed, info=None, probe_ms=0.0)
        any_failed |= isinstance(evaluation.payload, FailedPayload)
        sys.stdout.buffer.write(evaluation.payload.to_bytes() + b"\n")
        sys.stdout.flush()
        if report is not None:
            report.add(path, evaluation)
    if report is not None:
        report.write(f"Evaluations against {judge.judge_id}")
    sys.exit(1 if any_failed else 0)


def _report_writer(path: Path | None, probe_limits, sandbox):
    """The `--report` writer, making thumbnails in the sandbox when evaluations run there."""
    if path is None:
        return None
    from .report import ReportWriter, in_process, isolated

    return ReportWriter(path, isolated(probe_limits, sandbox) if sandbox else in_process(probe_limits))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def detectors(settings, as_json: bool) -> None:
    """List every installed detector with its plugin, version, content types and (with --json) params schema."""
    plugins = _plugins(settings)
    rows = [
        {
            "detector": e.detector.name,
            "plugin": e.plugin,
            "version": e.version,
            "content_types": sorted(e.detector.content_types),
            "reads": e.detector.reads,
            "description": e.detector.description,
            "params": e.detector.params.model_json_schema(),
        }
        for e in plugins.detectors
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _table(rows, ["detector", "plugin", "version", "content_types", "reads"])
    _report_failures(plugins)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def plugins_command(settings, as_json: bool) -> None:
    """List loaded plugins with their version, hooks and detectors."""
    plugins = _plugins(settings)
    rows = [
        {
            "plugin": p.name,
            "version": p.version,
            "builtin": p.builtin,
            "hooks": list(p.hooks),
            "detectors": [e.detector.name for e in plugins.detectors if e.plugin == p.name],
        }
        for p in plugins.plugins
    ]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "failures": [vars(f) for f in plugins.failures]}, indent=2))
    else:
        _table(rows, ["plugin", "version", "hooks", "detectors"])
    _report_failures(plugins)


@cli.command()
@click.option("--subscription", help="projects/P/subscriptions/S [env: PIQUE_SUBSCRIPTION].")
@click.option("--bucket", help="The uploads bucket [env: PIQUE_BUCKET].")
@click.option("--concurrency", type=int, help="Evaluations in flight [env: PIQUE_CONCURRENCY].")
@click.option("--metrics-port", type=int, help="Serve /healthz, /readyz, /metrics here [env: PIQUE_METRICS_PORT].")
@click.option("--max-messages", type=int, help="Burst mode: exit after handling this many messages.")
@click.pass_obj
def worker(settings, subscription, bucket, concurrency, metrics_port, max_messages) -> None:
    """Evaluate uploads announced on Pub/Sub and deliver their signed webhooks.

    Checks at start that the bucket is set, the database answers and the subscription
    exists; exits 1 with one line on stderr when anything is missing.
    """
    from ..worker.service import StartupError, run_worker

    overrides = {"subscription": subscription, "bucket": bucket, "concurrency": concurrency, "metrics_port": metrics_port}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    _plugins(settings)  # fail now, not in the first evaluation, when strict plugins are broken
    try:
        run_worker(settings, max_messages=max_messages)
    except StartupError as exc:
        _fail(str(exc))
    except PiqueError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="Where the stack keeps data, logs and its throwaway key.")
@click.option("--project", default="pique-local", show_default=True)
@click.option("--topic", default="uploads", show_default=True)
@click.option("--subscription", default="uploads-worker", show_default=True)
@click.option("--bucket", default="pique-uploads", show_default=True)
@click.option("--pubsub-port", type=int, help="The Pub/Sub emulator's port  [default: a free port]")
@click.option("--gcs-port", type=int, help="The storage port (the verifying front of fake-gcs-server)  [default: a free port]")
def stack(workdir, project, topic, subscription, bucket, pubsub_port, gcs_port) -> None:
    """Run the Pub/Sub emulator and fake-gcs-server, behind a front that checks signed uploads as GCS does.

    Prints the `export` lines that point `pique-engine api`, `pique-engine worker` (and any
    Google client) at them, with a throwaway service-account key to sign upload URLs.
    """
    from ..dev.stack import main as stack_main

    args = ["--project", project, "--topic", topic, "--subscription", subscription, "--bucket", bucket]
    for flag, value in (("--workdir", workdir), ("--pubsub-port", pubsub_port), ("--gcs-port", gcs_port)):
        if value is not None:
            args += [flag, str(value)]
    sys.exit(stack_main(args))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".pique-dev"), show_default=True,
              help="Database (unless PIQUE_DATABASE_URL is set), uploaded objects and demo credentials.")
@click.pass_obj
def dev(settings, host: str, port: int, data_dir: Path) -> None:
    """Run the whole flow locally: API, signed uploads, worker and webhooks in one process."""
    from ..dev.server import run_dev

    _plugins(settings)
    try:
        run_dev(settings, host, port, data_dir, out=lambda text: click.echo(text))
    except PiqueError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.pass_obj
def api(settings, host: str, port: int) -> None:
    """Serve the upload API (signed GCS URLs for PIQUE_BUCKET).

    Checks at start that the database is reachable and migrated and that upload URLs can be
    signed; exits 1 with one line saying what is missing otherwise.
    """
    import uvicorn

    from ..api.app import create_app
    from ..api.readiness import readiness_problem
    from ..storage.upload_urls import GcsSigner
    from ..store import Store

    if not settings.bucket:
        _fail("PIQUE_BUCKET is not set: set it to the bucket the upload URLs point at "
              "(the one whose notifications the worker consumes)")  # fmt: skip
    try:
        store = Store.open(settings.database_url)
    except PiqueError as exc:
        _fail(str(exc))
    signer = GcsSigner(settings.bucket)
    if problem := readiness_problem(store, signer):
        store.close()
        _fail(problem)
    uvicorn.run(create_app(store, signer, settings), host=host, port=port, log_level="warning")


def _fail(message: str) -> NoReturn:
    """Exit 1 with `message` as one line on stderr: what is missing and how to provide it."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(1)


@cli.group()
def webhooks() -> None:
    """Tools for webhook receivers."""


@webhooks.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--secret", "secrets", multiple=True, required=True, help="Webhook secret (repeat during a rotation).")
@click.option("--tolerance", type=int, default=300, show_default=True, help="Accepted signature age, seconds.")
def webhooks_listen(host: str, port: int, secrets: tuple[str, ...], tolerance: int) -> None:
    """Receive webhooks, verify each signature and print the event."""
    from ..webhooks.receiver import make_listener

    server = make_listener(host, port, secrets, lambda line: click.echo(line), tolerance_sec=tolerance)
    click.echo(f"listening on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _register_commands() -> None:
    from .admin import judges, keys, orgs
    from .bench import bench

    for command in (orgs, keys, judges, bench):
        cli.add_command(command)


_register_commands()


def _table(rows: list[dict], columns: list[str]) -> None:
    def cell(v) -> str:
        return ", ".join(v) if isinstance(v, list) else str(v)

    widths = {c: max([len(c)] + [len(cell(r[c])) for r in rows]) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo("  ".join(cell(r[c]).ljust(widths[c]) for c in columns))


def _report_failures(plugins) -> None:
    for f in plugins.failures:
        click.echo(f"warning: plugin {f.name!r} was skipped: {f.error}", err=True)


def main() -> None:
    cli(prog_name="pique-engine")
