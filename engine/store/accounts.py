"""Organisations, their API keys and webhook secrets, and their judges."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import JudgeNotFound, StoreError
from ..judge import Judge, parse_judge
from .base import StoreBase, new_id, utc_now
from .models import ApiKeyRow, JudgeRow, OrganisationRow
from .records import ApiKey, NewApiKey, NewOrg, Org

API_KEY_PREFIX = "pk_"
# The first characters of a key are stored in clear to find its row; the rest is only hashed.
LOOKUP_PREFIX_LENGTH = 12
WEBHOOK_SECRET_PREFIX = "whsec_"
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)


def hash_api_key(plaintext: str) -> str:
    """SHA-256 of the key, hex. Keys carry ~238 random bits, so a fast hash is enough."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


class AccountsMixin(StoreBase):
    # organisations ------------------------------------------------------------------

    def create_org(self, name: str, *, webhook_url: str | None = None, now: datetime | None = None) -> NewOrg:
        """Create an organisation with one API key and a webhook secret, returned in clear this once."""
        now = now or utc_now()
        secret = new_id(WEBHOOK_SECRET_PREFIX, 40)
        row = OrganisationRow(
            id=new_id("org_"),
            name=name,
            webhook_url=webhook_url,
            webhook_secret=secret,
            previous_webhook_secret=None,
            previous_secret_expires_at=None,
            created_at=now,
        )
        with self._write() as s:
            s.add(row)
            s.flush()
            key_row, plaintext = _new_key_row(row.id, now)
            s.add(key_row)
            org = _org(row)
        return NewOrg(org=org, api_key=plaintext, webhook_secret=secret)

    def get_org(self, org_id: str) -> Org | None:
        with self._read() as s:
            row = s.get(OrganisationRow, org_id)
            return _org(row) if row else None

    def set_webhook_url(self, org_id: str, webhook_url: str | None) -> Org:
        """Change where the organisation's webhooks go (jobs already in the outbox keep their URL)."""
        with self._write() as s:
            row = self._org_row(s, org_id)
            row.webhook_url = webhook_url
            return _org(row)

    def rotate_webhook_secret(
        self, org_id: str, *, overlap: timedelta = DEFAULT_ROTATION_OVERLAP, now: datetime | None = None
    ) -> str:
        """Make a new webhook secret current; the old one keeps signing too for `overlap`.

        Returns the new secret in clear; it is shown to the organisation this once.
        """
        now = now or utc_now()
        secret = new_id(WEBHOOK_SECRET_PREFIX, 40)
        with self._write() as s:
            row = self._org_row(s, org_id, lock=True)
            row.previous_webhook_secret = row.webhook_secret
            row.previous_secret_expires_at = now + overlap
            row.webhook_secret = secret
        return secret

    # API keys -----------------------------------------------------------------------

    def create_api_key(self, org_id: str, *, now: datetime | None = None) -> NewApiKey:
        """A new API key for the organisation; only its prefix and hash are stored."""
        now = now or utc_now()
        with self._write() as s:
            self._org_row(s, org_id)
            row, plaintext = _new_key_row(org_id, now)
            s.add(row)
            s.flush()
            return NewApiKey(key=_key(row), plaintext=plaintext)

    def list_api_keys(self, org_id: str) -> list[ApiKey]:
        with self._read() as s:
            rows = s.scalars(select(ApiKeyRow).where(ApiKeyRow.org_id == org_id).order_by(ApiKeyRow.created_at))
            return [_key(r) for r in rows]

    def revoke_api_key(self, key_id: str, *, now: datetime | None = None) -> bool:
        """Revoke a key at once; True if it was active, False if already revoked or unknown."""
        now = now or utc_now()
        with self._write() as s:
            res = s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
            return res.rowcount == 1  # type: ignore[attr-defined]

    def org_for_api_key(self, plaintext: str) -> Org | None:
        """The organisation an active API key belongs to, or None for an unknown or revoked key."""
        if not plaintext.startswith(API_KEY_PREFIX) or len(plaintext) <= LOOKUP_PREFIX_LENGTH:
            return None
        digest = hash_api_key(plaintext)
        with self._read() as s:
            rows = s.execute(
                select(ApiKeyRow, OrganisationRow)
                .join(OrganisationRow, OrganisationRow.id == ApiKeyRow.org_id)
                .where(ApiKeyRow.prefix == plaintext[:LOOKUP_PREFIX_LENGTH])
            ).all()
            found = None
            for key_row, org_row in rows:
                # compare every candidate, so the time taken says nothing about which matched
                if hmac.compare_digest(key_row.key_hash, digest) and key_row.revoked_at is None:
                    found = _org(org_row)
            return found

    # judges -------------------------------------------------------------------------

    def create_judge(
        self, org_id: str, judge: Judge | Mapping[str, Any], *, replace: bool = False, now: datetime | None = None
    ) -> Judge:
        """Store a judge for the organisation; with `replace`, overwrite one with the same id."""
        judge = judge if isinstance(judge, Judge) else parse_judge(judge)
        now = now or utc_now()
        criteria = [c.model_dump(mode="json") for c in judge.criteria]
        with self._write() as s:
            self._org_row(s, org_id)
            row = s.get(JudgeRow, (org_id, judge.judge_id), with_for_update=True)
            if row is not None and not replace:
                raise StoreError(
                    f"judge {judge.judge_id!r} already exists for organisation {org_id!r}; "
                    "choose another judge_id or replace it"
                )
            if row is None:
                s.add(JudgeRow(org_id=org_id, judge_id=judge.judge_id, name=judge.name,
                               criteria=criteria, created_at=now, updated_at=now))
            else:
                row.name, row.criteria, row.updated_at = judge.name, criteria, now
            try:
                s.flush()
            except IntegrityError:
                raise StoreError(
                    f"judge {judge.judge_id!r} was created concurrently for organisation {org_id!r}; retry"
                ) from None
        return judge

    def get_judge(self, org_id: str, judge_id: str) -> Judge:
        """The organisation's judge; raises `JudgeNotFound` naming both ids."""
        with self._read() as s:
            row = s.get(JudgeRow, (org_id, judge_id))
            if row is None:
                raise JudgeNotFound(f"judge {judge_id!r} not found for organisation {org_id!r}")
            return _judge(row)

    def list_judges(self, org_id: str) -> list[Judge]:
        with self._read() as s:
            rows = s.scalars(select(JudgeRow).where(JudgeRow.org_id == org_id).order_by(JudgeRow.judge_id))
            return [_judge(r) for r in rows]

    # helpers ------------------------------------------------------------------------

    @staticmethod
    def _org_row(s: Session, org_id: str, *, lock: bool = False) -> OrganisationRow:
        row = s.get(OrganisationRow, org_id, with_for_update=lock)
        if row is None:
            raise StoreError(f"organisation {org_id!r} does not exist; create it first")
        return row


def _new_key_row(org_id: str, now: datetime) -> tuple[ApiKeyRow, str]:
    plaintext = new_id(API_KEY_PREFIX, 40)
    row = ApiKeyRow(
        id=new_id("key_"),
        org_id=org_id,
        prefix=plaintext[:LOOKUP_PREFIX_LENGTH],
        key_hash=hash_api_key(plaintext),
        created_at=now,
        revoked_at=None,
    )
    return row, plaintext


def _org(row: OrganisationRow) -> Org:
    return Org(
        id=row.id,
        name=row.name,
        webhook_url=row.webhook_url,
        webhook_secret=row.webhook_secret,
        previous_webhook_secret=row.previous_webhook_secret,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
    )


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, org_id=row.org_id, prefix=row.prefix, created_at=row.created_at, revoked_at=row.revoked_at)


def _judge(row: JudgeRow) -> Judge:
    return parse_judge(
        {"judge_id": row.judge_id, "name": row.name, "criteria": row.criteria},
        source=f"stored judge {row.judge_id!r} of organisation {row.org_id!r}",
    )
