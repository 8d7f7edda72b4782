"""Admin commands (`orgs`, `keys`, `judges`): JSON out, secrets shown once.

Every command opens the store named by ``PIQUE_DATABASE_URL`` (unset: the database
`pique-engine dev` uses by default, `DEV_DATABASE_URL`), migrates it first, and says on stderr
which database it used. Ids are always options (``--org``, ``--key``, ``--judge``) and every
timestamp is ISO 8601 UTC with ``Z``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import click

from ..errors import PiqueError


# `pique-engine dev --data-dir` defaults to .pique-dev and keeps its database there: with
# PIQUE_DATABASE_URL unset, the admin commands must change what the dev server serves.
DEV_DATA_DIR = Path(".pique-dev")
DEV_DATABASE_URL = f"sqlite:///{DEV_DATA_DIR / 'pique.db'}"


def iso_utc(value: datetime) -> str:
    """`value` as ISO 8601 in UTC with ``Z``; a naive time (SQLite keeps no zone) is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_default(value):
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _emit(data) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def database_url(settings) -> str:
    """The database the admin commands use: PIQUE_DATABASE_URL, else the dev server's."""
    return settings.database_url if "database_url" in settings.model_fields_set else DEV_DATABASE_URL


def _store(settings):
    from ..store import Store

    url = database_url(settings)
    if url == DEV_DATABASE_URL:
        DEV_DATA_DIR.mkdir(exist_ok=True)
    click.echo(f"database: {_redacted(url)}", err=True)
    try:
        return Store.open(url)
    except PiqueError as exc:
        raise click.ClickException(str(exc)) from None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _require_org(store, org_id: str):
    org = store.get_org(org_id)
    if org is None:
        raise click.ClickException(f"organisation {org_id!r} not found; `pique-engine orgs create` makes one")
    return org


def _check_webhook(settings, url: str | None) -> None:
    if url is None:
        return
    from ..webhooks.netguard import validate_webhook_url

    try:
        validate_webhook_url(url, allow_private=settings.webhook_allow_private)
    except PiqueError as exc:
        raise click.BadParameter(str(exc), param_hint="--webhook-url") from None


@click.group()
def orgs() -> None:
    """Create organisations and rotate their webhook secrets."""


@orgs.command("create")
@click.option("--name", required=True)
@click.option("--webhook-url", help="Where this organisation's webhooks go.")
@click.pass_obj
def orgs_create(settings, name: str, webhook_url: str | None) -> None:
    """Create an organisation; prints org_id, api_key and webhook_secret (shown this once)."""
    _check_webhook(settings, webhook_url)
    with _store(settings) as store:
        new = store.create_org(name, webhook_url=webhook_url)
    _emit({"org_id": new.org.id, "name": name, "webhook_url": webhook_url, "api_key": new.api_key, "webhook_secret": new.webhook_secret})


@orgs.command("rotate-secret")
@click.option("--org", "org_id", required=True)
@click.option("--overlap-hours", type=float, default=24.0, show_default=True, help="How long the old secret keeps signing too.")
@click.pass_obj
def orgs_rotate(settings, org_id: str, overlap_hours: float) -> None:
    """Make a new webhook secret; webhooks carry both signatures during the overlap."""
    with _store(settings) as store:
        _require_org(store, org_id)
        secret = store.rotate_webhook_secret(org_id, overlap=timedelta(hours=overlap_hours))
        org = store.get_org(org_id)
    _emit({"org_id": org_id, "webhook_secret": secret, "previous_secret_valid_until": org.previous_secret_expires_at})


@orgs.command("set-webhook")
@click.option("--org", "org_id", required=True)
@click.option("--webhook-url", required=True)
@click.pass_obj
def orgs_set_webhook(settings, org_id: str, webhook_url: str) -> None:
    """Change where an organisation's webhooks go."""
    _check_webhook(settings, webhook_url)
    with _store(settings) as store:
        _require_org(store, org_id)
        org = store.set_webhook_url(org_id, webhook_url)
    _emit({"org_id": org.id, "webhook_url": org.webhook_url})


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--org", "org_id", required=True)
@click.pass_obj
def keys_create(settings, org_id: str) -> None:
    """Create an API key; prints it this once."""
    with _store(settings) as store:
        _require_org(store, org_id)
        new = store.create_api_key(org_id)
    _emit({"key_id": new.key.id, "org_id": org_id, "api_key": new.plaintext})


@keys.command("list")
@click.option("--org", "org_id", required=True)
@click.pass_obj
def keys_list(settings, org_id: str) -> None:
    """List an organisation's keys (prefixes only; keys are stored hashed)."""
    with _store(settings) as store:
        _require_org(store, org_id)
        rows = store.list_api_keys(org_id)
    _emit([{"key_id": k.id, "prefix": k.prefix, "created_at": k.created_at, "revoked_at": k.revoked_at} for k in rows])


@keys.command("revoke")
@click.option("--key", "key_id", required=True)
@click.pass_obj
def keys_revoke(settings, key_id: str) -> None:
    """Revoke a key; requests using it are refused from now on."""
    with _store(settings) as store:
        revoked = store.revoke_api_key(key_id)
    if not revoked:
        raise click.ClickException(f"API key {key_id!r} is unknown or already revoked")
    _emit({"key_id": key_id, "revoked": True})


@click.group()
def judges() -> None:
    """Create, validate, list and show judges."""


@judges.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def judges_validate(settings, path: Path) -> None:
    """Check a judge file against the installed detectors; exit 1 and say what is wrong if invalid.

    Needs no database.
    """
    from ..judge import bind_judge, content_types_covered, judge_problems, parse_judge, read_judge_file
    from ..plugins import load_plugins

    plugins = load_plugins(settings.plugin_selection())
    try:
        judge = parse_judge(read_judge_file(path), source=f"judge file {str(path)!r}")
    except PiqueError as exc:
        _invalid([str(exc)])
    problems = judge_problems(judge, plugins.detectors)
    if problems:
        _invalid(problems)
    covered = content_types_covered(bind_judge(judge, plugins.detectors))
    click.echo(f"judge {judge.judge_id!r} is valid: {len(judge.criteria)} criteria")
    for content_type, ids in covered.items():
        click.echo(f"  {content_type}: " + (", ".join(ids) if ids else "no criterion (evaluating it would fail)"))


def _invalid(problems: list[str]) -> NoReturn:
    for problem in problems:
        click.echo(f"error: {problem}")
    raise SystemExit(1)


@judges.command("create")
@click.option("--org", "org_id", required=True)
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite a judge with the same judge_id.")
@click.pass_obj
def judges_create(settings, org_id: str, path: Path, replace: bool) -> None:
    """Store a judge from a judge file, after checking it against the installed detectors."""
    from ..judge import load_judge_file
    from ..plugins import load_plugins

    try:
        bound = load_judge_file(path, load_plugins(settings.plugin_selection()).detectors)
    except PiqueError as exc:
        raise click.UsageError(str(exc)) from None
    with _store(settings) as store:
        _require_org(store, org_id)
        try:
            judge = store.create_judge(org_id, bound.judge, replace=replace)
        except PiqueError as exc:
            raise click.ClickException(str(exc)) from None
    _emit({"judge_id": judge.judge_id, "org_id": org_id, "criteria": len(judge.criteria)})


@judges.command("list")
@click.option("--org", "org_id", required=True)
@click.pass_obj
def judges_list(settings, org_id: str) -> None:
    """List an organisation's judges."""
    with _store(settings) as store:
        _require_org(store, org_id)
        rows = store.list_judges(org_id)
    _emit([{"judge_id": j.judge_id, "name": j.name, "criteria": len(j.criteria)} for j in rows])


@judges.command("show")
@click.option("--org", "org_id", required=True)
@click.option("--judge", "judge_id", required=True)
@click.pass_obj
def judges_show(settings, org_id: str, judge_id: str) -> None:
    """Print one judge as its judge file."""
    with _store(settings) as store:
        try:
            judge = store.get_judge(org_id, judge_id)
        except PiqueError as exc:
            raise click.ClickException(str(exc)) from None
    _emit(judge.model_dump())
