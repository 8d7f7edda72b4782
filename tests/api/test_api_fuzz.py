"""Fuzzing the API from the OpenAPI schema it serves (schemathesis), on SQLite and PostgreSQL.

No generated request may get a 5xx, crash the app, or get an answer that contradicts the
schema (status codes, bodies, headers, content types). Bounded and derandomized, so the run
is the same every time and takes seconds: up to 100 examples per operation, plus
schemathesis's coverage phase (boundary values, missing fields, wrong types and methods).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from pique_engine.api.app import create_app
from pique_engine.settings import Settings
from pique_engine.storage.upload_urls import LocalSigner
from pique_engine.store import Store

from ..databases import migrated_database_url, pg_url  # noqa: F401 - fixtures

# The contract's example names this judge, and schemathesis sends the schema's examples first,
# so the happy path (200) is exercised alongside the 400s, 401s and 404s.
JUDGE = {"judge_id": "judge_abc123", "name": "Fuzz", "criteria": [{"criterion_id": "specs", "detector": "video_specs"}]}


@pytest.fixture
def api(migrated_database_url):  # noqa: F811
    store = Store.open(migrated_database_url)
    new = store.create_org("Fuzz", webhook_url="https://hooks.example.com/pique")
    store.create_judge(new.org.id, JUDGE)
    app = create_app(store, LocalSigner("http://127.0.0.1:8080", "fuzz-secret-0123456789"), Settings())
    yield app, new.api_key
    store.close()


@pytest.fixture
def api_schema(api):
    app, _ = api
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=100, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_or_an_answer_the_schema_does_not_allow(case, api):
    _, api_key = api
    # A schema-valid body may still be refused with 400: webhook_url must name a public host,
    # which no JSON Schema can express. So that one check is off; every other built-in check
    # (no 5xx, status codes, response schemas and headers, unsupported methods, auth) runs.
    case.call_and_validate(headers={"X-API-Key": api_key}, excluded_checks=[positive_data_acceptance])
